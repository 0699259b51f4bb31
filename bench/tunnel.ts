// The tunnel cases (issue #3, "Performance"; issue 15 for the library comparison):
// 1. Request/response through the gateway's HTTP API: undici (keep-alive Pool) → node:http API →
//    gateway → SSH → node handler POST /echo, closed loop at each concurrency, measured like the echo
//    cases (load.ts). Processes: the bench process runs only the HTTP client; the gateway + HTTP API run
//    in one child and the node in another. That is what a deployment looks like (the caller is not the
//    gateway): the gateway's work (HTTP server, SSH client) is a hop the HTTP API adds, paid on its own
//    core. (Three busy processes on two cores at c=64 is the price.)
// 2. The same echo through gateway.request() (the library, no HTTP) from a gateway in the bench process,
//    its node in a child, at each concurrency. Its windows alternate with the HTTP API's, round by round,
//    so that machine noise lands on both alike: the HTTP API / library ratio at c=64 is a target, and the
//    library's p50 at c=1 is compared with korv's.
//    The baselines of those targets take turns in the same rounds when given: korv's echo at c=1 (its
//    server child and client as in the echo cases) and node:http behind OpenSSH `ssh -R` (the OpenSSH
//    anchor, openssh.ts), so that each ratio compares windows seconds apart, not sections minutes apart.
// 3. STREAM items per second over one tunnel: the node yields {"i": n} as fast as it can; the bench
//    process consumes them with gateway.stream() (the library, no HTTP). Optionally the same stream
//    through the HTTP API as NDJSON (gateway in a child again), print only.
// Every side runs the compiled library in dist/ (dist.ts), as korv's and the pipe's benches do.
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {Pool} from 'undici'
import type {KorvKeys} from '../test/helpers/korv-fixture.js'
import {makeTunnelKeys, trustNode} from '../test/helpers/tunnel-fixture.js'
import {exited, spawnTracked, stopChild} from './children.js'
import {type EchoClient, connectHttp, connectKorv} from './clients.js'
import {type TunnelModule, loadTunnel} from './dist.js'
import {startServerChild} from './echo-cases.js'
import {type LoadResult, type SendEcho, type WindowSamples, runWindow, summarize} from './load.js'
import {freePort, sshdMissing, startPrivateSshd} from './sshd.js'

const ROOT = join(import.meta.dirname, '..')
const NODE_ID = 'bench-node'

export interface TunnelSettings {
  concurrency: number[]
  warmupSeconds: number
  measureSeconds: number
  rounds: number
  streamItems: number
  streamSeconds: number
}

export interface StreamResult {
  items: number
  seconds: number
  itemsPerSecond: number
}

/** The baselines measured in the tunnel's rotation. */
export interface TunnelBaselines {
  /** korv's echo at c=1 (korv's keys for its server child and client). */
  korv?: KorvKeys
  /** node:http behind `ssh -R`, at each concurrency, when sshd is here. */
  sshR?: boolean
}

export interface TunnelResult {
  http: LoadResult[]
  /** gateway.request() from the bench process (the library, no HTTP), at each concurrency. */
  library: LoadResult[]
  /** korv's echo at c=1, in the same rounds. */
  korvC1?: LoadResult
  /** node:http behind `ssh -R`, in the same rounds. */
  sshR?: LoadResult[]
  stream: StreamResult
  httpNdjson?: StreamResult
}

interface Child {
  info: Record<string, number>
  stop(): Promise<void>
}

async function startChild(args: string[]): Promise<Child> {
  // BENCH_PROF_DIR: CPU profiles of the tunnel children too, as for the echo servers (echo-cases.ts).
  const profDir = process.env.BENCH_PROF_DIR
  const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []
  const child = spawnTracked(process.execPath, ['--import', 'tsx', ...prof, join(ROOT, 'bench', 'tunnel-child.ts'), ...args], {cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit']})
  const lines = createInterface({input: child.stdout!})
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    exited(child).then((code) => Promise.reject(new Error(`tunnel ${args[0]} child exited (${code}) before it was ready`))),
  ])
  lines.close()
  return {
    info: JSON.parse(first) as Record<string, number>,
    async stop() {
      child.stdin!.end()
      const timer = setTimeout(() => void stopChild(child), 5000)
      await exited(child)
      clearTimeout(timer)
    },
  }
}

async function waitForNodeOverHttp(pool: Pool): Promise<void> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
    const response = await pool.request({method: 'GET', path: '/nodes'})
    const nodes = (await response.body.json()) as Array<{id: string}>
    if (nodes.some((n) => n.id === NODE_ID)) return
  }

  throw new Error(`node ${NODE_ID} did not register with the gateway`)
}

function httpSender(pool: Pool): SendEcho {
  return async (body) => {
    const response = await pool.request({body: JSON.stringify(body), headers: {'content-type': 'application/json'}, method: 'POST', path: `/nodes/${NODE_ID}/echo`})
    if (response.statusCode !== 200) throw new Error(`tunnel HTTP ${response.statusCode}: ${await response.body.text()}`)
    return response.body.json()
  }
}

const REWARM_MS = 200

interface RotationCase {
  send: SendEcho
  /** The concurrencies it runs at (default: every one of the settings). */
  concurrency?: number[]
}

type RotationKind = 'http' | 'library' | 'korv' | 'sshR'

/** Each case at each concurrency, in rounds that take turns through the concurrencies and the cases. */
async function measureAlternating(cases: Partial<Record<RotationKind, RotationCase>>, settings: TunnelSettings): Promise<Partial<Record<RotationKind, LoadResult[]>>> {
  const windows = new Map<string, WindowSamples[]>()
  const measureMs = (settings.measureSeconds * 1000) / settings.rounds
  const entries = Object.entries(cases) as Array<[RotationKind, RotationCase]>
  const concurrencies = (rotation: RotationCase): number[] => settings.concurrency.filter((c) => rotation.concurrency?.includes(c) ?? true)
  for (let round = 0; round < settings.rounds; round++) {
    for (const concurrency of settings.concurrency) {
      for (const [kind, rotation] of entries.filter(([, r]) => concurrencies(r).includes(concurrency))) {
        const key = `${kind} ${concurrency}`
        const warmupMs = windows.has(key) ? REWARM_MS : settings.warmupSeconds * 1000
        windows.set(key, [...(windows.get(key) ?? []), await runWindow(rotation.send, {concurrency, measureMs, warmupMs})])
      }
    }
  }

  return Object.fromEntries(entries.map(([kind, rotation]) => [kind, concurrencies(rotation).map((c) => summarize(c, windows.get(`${kind} ${c}`)!))]))
}

/** Starts the baselines asked for; what it started is in `stops` (also when it throws half-way). */
async function startBaselines(baselines: TunnelBaselines, dir: string, settings: TunnelSettings, stops: Array<() => Promise<void>>): Promise<Partial<Record<'korv' | 'sshR', RotationCase>>> {
  const cases: Partial<Record<'korv' | 'sshR', RotationCase>> = {}
  const client = async (connect: Promise<EchoClient>): Promise<EchoClient> => {
    const connected = await connect
    stops.push(() => connected.close())
    return connected
  }

  if (baselines.korv) {
    const server = await startServerChild('korv', baselines.korv.dir, undefined)
    stops.push(() => server.stop())
    cases.korv = {concurrency: [1], send: (await client(connectKorv(server.port, baselines.korv))).send}
  }

  const missing = baselines.sshR ? sshdMissing() : 'not asked for'
  if (baselines.sshR && missing) process.stderr.write(`bench: ssh -R left out of the tunnel rotation: ${missing}\n`)
  if (!missing) {
    const sshd = await startPrivateSshd(join(dir, 'sshd-tunnel'))
    stops.push(() => sshd.stop())
    const http = await startServerChild('http', dir, undefined)
    stops.push(() => http.stop())
    const port = await freePort()
    const forward = await sshd.forward('R', port, http.port)
    stops.push(() => forward.stop())
    cases.sshR = {send: (await client(connectHttp(port, Math.max(...settings.concurrency)))).send}
  }

  return cases
}

/** Reads N NDJSON items from GET /nodes/<id>/items?n=N (or stops after the time limit). */
async function measureNdjson(pool: Pool, settings: TunnelSettings): Promise<StreamResult> {
  const started = performance.now()
  const response = await pool.request({headers: {accept: 'application/x-ndjson'}, method: 'GET', path: `/nodes/${NODE_ID}/items?n=${settings.streamItems}`})
  let items = 0
  const deadline = started + settings.streamSeconds * 1000
  for await (const chunk of response.body) {
    for (const byte of chunk as Buffer) if (byte === 10) items++
    if (performance.now() > deadline) break
  }

  if (items < settings.streamItems) response.body.destroy()
  const seconds = (performance.now() - started) / 1000
  return {items, itemsPerSecond: items / seconds, seconds}
}

/** gateway.stream() from the library gateway: a warm-up stream, then one measured. */
async function measureLibraryStream(gateway: Awaited<ReturnType<TunnelModule['startTunnelGateway']>>, settings: TunnelSettings): Promise<StreamResult> {
  // A short warm-up stream, so JIT and the SSH window are in their steady state.
  for await (const item of gateway.stream(NODE_ID, '/items', {params: {n: 20_000}})) void item
  const started = performance.now()
  const deadline = started + settings.streamSeconds * 1000
  let items = 0
  for await (const item of gateway.stream(NODE_ID, '/items', {params: {n: settings.streamItems}})) {
    if ((item as {i: number}).i !== items) throw new Error(`stream item ${items} out of order: ${JSON.stringify(item)}`)
    items++
    if ((items & 1023) === 0 && performance.now() > deadline) break
  }

  const seconds = (performance.now() - started) / 1000
  return {items, itemsPerSecond: items / seconds, seconds}
}

export async function runTunnelCases(settings: TunnelSettings, dir: string, baselines: TunnelBaselines = {}): Promise<TunnelResult> {
  const {AuthorizedKeysFile, loadPrivateKey, startTunnelGateway} = await loadTunnel()
  const keysDir = join(dir, 'tunnel')
  mkdirSync(keysDir)
  const keys = await makeTunnelKeys(keysDir)
  await trustNode(keys.knownNodesPath, NODE_ID, keys.nodeHostPublicKey)
  await AuthorizedKeysFile.open(keys.authorizedKeysPath) // fail here, not in a child, if the file is unusable

  const gatewayChild = await startChild(['gateway', keysDir])
  const children: Child[] = []
  // Stopped last-started first, after the tunnel's own processes.
  const baselineStops: Array<() => Promise<void>> = []
  const pool = new Pool(`http://127.0.0.1:${gatewayChild.info.httpPort}`, {connections: Math.max(...settings.concurrency)})
  let gateway: Awaited<ReturnType<TunnelModule['startTunnelGateway']>> | undefined
  try {
    children.push(await startChild(['node', keysDir, NODE_ID, String(gatewayChild.info.gatewayPort)]))
    await waitForNodeOverHttp(pool)
    // The library's gateway lives in this process (as for any library user), with a node of its own.
    gateway = await startTunnelGateway({identities: [await loadPrivateKey(join(keysDir, 'client_key'))], knownNodesPath: join(keysDir, 'known_hosts'), port: 0})
    children.push(await startChild(['node', keysDir, NODE_ID, String(gateway.address.port)]))
    await gateway.waitForNode(NODE_ID, 20_000)
    const library = gateway
    const {korv, sshR} = await startBaselines(baselines, dir, settings, baselineStops)
    const names = ['HTTP API', 'gateway.request() (library)', ...(korv ? ['korv c=1'] : []), ...(sshR ? ['node:http behind ssh -R'] : [])]
    process.stderr.write(`bench: tunnel request/response in alternating rounds: ${names.join(', ')}\n`)
    const measured = await measureAlternating(
      {
        http: {send: httpSender(pool)},
        library: {send: async (body) => (await library.request(NODE_ID, 'POST', '/echo', {data: body})).body},
        ...(korv && {korv}),
        ...(sshR && {sshR}),
      },
      settings,
    )
    const http = measured.http!
    process.stderr.write('bench: tunnel STREAM through the HTTP API (NDJSON)\n')
    await measureNdjson(pool, {...settings, streamItems: 20_000}) // warm-up
    const httpNdjson = await measureNdjson(pool, settings)
    process.stderr.write('bench: tunnel gateway.stream() (library, gateway in this process)\n')
    const stream = await measureLibraryStream(gateway, settings)
    return {http, httpNdjson, korvC1: measured.korv?.[0], library: measured.library!, sshR: measured.sshR, stream}
  } finally {
    for (const stop of baselineStops.reverse()) await stop()
    await pool.close()
    await Promise.all(children.map((child) => child.stop()))
    await gateway?.close()
    await gatewayChild.stop()
  }
}
