// The tunnel cases (issue #3, "Performance"):
// 1. Request/response through the gateway's HTTP API: undici (keep-alive Pool) → node:http API →
//    gateway → SSH → node handler POST /echo, closed loop at each concurrency, measured like the echo
//    cases (load.ts) and compared with korv's echo at c=1 from the same run.
//    Processes: the bench process runs only the HTTP client; the gateway + HTTP API run in one child and
//    the node in another. That is what a deployment looks like (the caller is not the gateway) and it
//    keeps the comparison with korv fair on 2 cores: the korv case's client pays only for the client
//    side, so the tunnel's client must too, and the gateway's work (HTTP server, SSH client) is a hop the
//    tunnel adds, to be paid on its own core. (Three busy processes on two cores at c=64 is the price.)
// 2. STREAM items per second over one tunnel: the node yields {"i": n} as fast as it can; the bench
//    process consumes them with gateway.stream() (the library, no HTTP). Here the gateway must be in the
//    bench process, as it is for any library user; the node is a child. Optionally the same stream
//    through the HTTP API as NDJSON (gateway in a child again), print only.
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {Pool} from 'undici'
import {AuthorizedKeysFile, loadPrivateKey, startTunnelGateway} from '../src/core/tunnel/index.js'
import {makeTunnelKeys, trustNode} from '../test/helpers/tunnel-fixture.js'
import {exited, spawnTracked, stopChild} from './children.js'
import {type LoadResult, measureInRounds, runWindow, summarize} from './load.js'

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

export interface TunnelResult {
  http: LoadResult[]
  /** gateway.request() from the bench process (the library, no HTTP) at c=1: splits the HTTP hop from the SSH one. Print only. */
  library?: LoadResult
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

async function measureHttp(pool: Pool, settings: TunnelSettings): Promise<LoadResult[]> {
  const send = async (body: unknown): Promise<unknown> => {
    const response = await pool.request({body: JSON.stringify(body), headers: {'content-type': 'application/json'}, method: 'POST', path: `/nodes/${NODE_ID}/echo`})
    if (response.statusCode !== 200) throw new Error(`tunnel HTTP ${response.statusCode}: ${await response.body.text()}`)
    return response.body.json()
  }

  return measureInRounds(send, settings)
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

async function measureLibrary(keysDir: string, settings: TunnelSettings): Promise<{library: LoadResult; stream: StreamResult}> {
  const gateway = await startTunnelGateway({identities: [await loadPrivateKey(join(keysDir, 'client_key'))], knownNodesPath: join(keysDir, 'known_hosts'), port: 0})
  let node: Child | undefined
  try {
    node = await startChild(['node', keysDir, NODE_ID, String(gateway.address.port)])
    await gateway.waitForNode(NODE_ID, 20_000)
    const send = async (body: unknown): Promise<unknown> => (await gateway.request(NODE_ID, 'POST', '/echo', {data: body})).body
    const window = await runWindow(send, {concurrency: 1, measureMs: (settings.measureSeconds * 1000) / settings.rounds, warmupMs: settings.warmupSeconds * 1000})
    const library = summarize(1, [window])
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
    return {library, stream: {items, itemsPerSecond: items / seconds, seconds}}
  } finally {
    await node?.stop()
    await gateway.close()
  }
}

export async function runTunnelCases(settings: TunnelSettings, dir: string): Promise<TunnelResult> {
  const keysDir = join(dir, 'tunnel')
  mkdirSync(keysDir)
  const keys = await makeTunnelKeys(keysDir)
  await trustNode(keys.knownNodesPath, NODE_ID, keys.nodeHostPublicKey)
  await AuthorizedKeysFile.open(keys.authorizedKeysPath) // fail here, not in a child, if the file is unusable

  process.stderr.write('bench: tunnel request/response through the HTTP API\n')
  const gateway = await startChild(['gateway', keysDir])
  let node: Child | undefined
  const pool = new Pool(`http://127.0.0.1:${gateway.info.httpPort}`, {connections: Math.max(...settings.concurrency)})
  let http: LoadResult[]
  let httpNdjson: StreamResult | undefined
  try {
    node = await startChild(['node', keysDir, NODE_ID, String(gateway.info.gatewayPort)])
    await waitForNodeOverHttp(pool)
    http = await measureHttp(pool, settings)
    process.stderr.write('bench: tunnel STREAM through the HTTP API (NDJSON)\n')
    await measureNdjson(pool, {...settings, streamItems: 20_000}) // warm-up
    httpNdjson = await measureNdjson(pool, settings)
  } finally {
    await pool.close()
    await node?.stop()
    await gateway.stop()
  }

  process.stderr.write('bench: tunnel gateway.request() and gateway.stream() (library, gateway in this process)\n')
  const {library, stream} = await measureLibrary(keysDir, settings)
  return {http, httpNdjson, library, stream}
}
