// The pipe cases (issue #4, "Performance"), each next to its raw TLS baseline in the same run:
// 1. Small events, closed loop at each concurrency: hub → node (hub in this process, node in a child),
//    node → hub (node here, hub in a child), and a raw TLS NDJSON echo (client here, server in a child,
//    one connection, requests pipelined and matched by n). The pipe's event is POST echo with the JSON
//    body {"n", "msg"}, answered with the same bytes; the client parses the reply as JSON. The three
//    cases are set up together and measured in rounds that rotate through them (measureRotating).
// 2. Bulk: GET bulk//N from the node (the reply body streamed, counted here) against a raw TLS socket
//    that writes N bytes; MB/s, the median of BENCH_ROUNDS transfers each.
// 3. Reconnect: the hub child is killed (SIGKILL) and started again on the same port; the time from its
//    "listening" to the first successful event from the node here (default backoff).
// Both sides run the compiled library from dist/ (dist.ts says why): build first.
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {connect as tlsConnect} from 'node:tls'
import type {PipeHubHandle, PipeNodeHandle, PipeReply} from '../src/core/pipe/index.js'
import {makePipePki} from '../test/helpers/pipe-pki.js'
import {exited, spawnTracked, stopChild} from './children.js'
import {type LoadResult, type SendEcho, type WindowSamples, runWindow, summarize} from './load.js'
import {reportOtherCpu, watchOtherCpu} from './other-cpu.js'
import {loadNdjson, loadPipe} from './dist.js'

const ROOT = join(import.meta.dirname, '..')
const NODE = 'bench-node'
const T = {timeoutMs: 30_000}
/** Before every round but the first, this much warm-up again (as in load.ts). */
const REWARM_MS = 200

export interface PipeSettings {
  concurrency: number[]
  warmupSeconds: number
  measureSeconds: number
  rounds: number
  bulkBytes: number
}

export interface BulkResult {
  bytes: number
  seconds: number
  mbPerSecond: number
}

export interface PipeResult {
  hubToNode: LoadResult[]
  nodeToHub: LoadResult[]
  rawTls: LoadResult[]
  bulk: BulkResult
  rawBulk: BulkResult
  reconnectMs: number
}

interface Child {
  info: Record<string, number>
  kill(): Promise<void>
  stop(): Promise<void>
}

async function startChild(args: string[]): Promise<Child> {
  const child = spawnTracked(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'pipe-child.ts'), ...args], {cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit']})
  const lines = createInterface({input: child.stdout!})
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    exited(child).then((code) => Promise.reject(new Error(`pipe ${args[0]} child exited (${code}) before it was ready`))),
  ])
  lines.close()
  return {
    info: JSON.parse(first) as Record<string, number>,
    async kill() {
      child.kill('SIGKILL')
      await exited(child)
    },
    async stop() {
      child.stdin!.end()
      const timer = setTimeout(() => void stopChild(child), 5000)
      await exited(child)
      clearTimeout(timer)
    },
  }
}

const echoEvent = (body: unknown) => ({args: [], body: JSON.stringify(body), contentType: 'application/json', noun: 'echo', verb: 'POST'})

async function readJson(reply: PipeReply): Promise<unknown> {
  const body = await reply.read()
  if (reply.code !== 0) throw new Error(`pipe echo answered code ${reply.code}`)
  return JSON.parse(body.toString('utf8'))
}

async function timeBulk(read: () => Promise<number>): Promise<BulkResult> {
  const started = performance.now()
  const bytes = await read()
  const seconds = (performance.now() - started) / 1000
  return {bytes, mbPerSecond: bytes / 1e6 / seconds, seconds}
}

/** The median of several transfers: one transfer is easily skewed by another process taking the CPU. */
async function medianBulk(rounds: number, read: () => Promise<number>): Promise<BulkResult> {
  const results: BulkResult[] = []
  for (let i = 0; i < rounds; i++) results.push(await timeBulk(read))
  results.sort((a, b) => a.mbPerSecond - b.mbPerSecond)
  return results[results.length >> 1]!
}

async function pipeBulk(hub: PipeHubHandle, bytes: number): Promise<number> {
  const reply = await hub.request(NODE, {args: [String(bytes)], noun: 'bulk', verb: 'GET'}, T)
  let received = 0
  for await (const chunk of reply.body) received += (chunk as Buffer).length
  if (received !== bytes) throw new Error(`bulk: ${received} of ${bytes} bytes`)
  return received
}

/** The raw TLS NDJSON client: one connection, every request in flight matched by its n. */
async function rawEchoClient(pkiDir: string, port: number): Promise<{send: SendEcho; close(): void}> {
  const {loadPipeIdentity} = await loadPipe()
  const {NdjsonDecoder} = await loadNdjson()
  const identity = await loadPipeIdentity({dir: pkiDir, name: NODE})
  const socket = tlsConnect({ca: identity.ca, cert: identity.cert, host: '127.0.0.1', key: identity.key, port, servername: 'hub'})
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
  socket.setNoDelay(true)
  const pending = new Map<number, (value: unknown) => void>()
  const decoder = new NdjsonDecoder({
    onError: (error) => socket.destroy(error),
    onLine(line) {
      const answer = JSON.parse(line.toString('utf8')) as {n: number}
      pending.get(answer.n)?.(answer)
      pending.delete(answer.n)
    },
  })
  socket.on('data', (chunk: Buffer) => decoder.push(chunk))
  return {
    close: () => socket.destroy(),
    send: (body) =>
      new Promise((resolve) => {
        pending.set(body.n, resolve)
        socket.write(JSON.stringify(body) + '\n')
      }),
  }
}

async function rawBulk(pkiDir: string, port: number, bytes: number): Promise<number> {
  const {loadPipeIdentity} = await loadPipe()
  const identity = await loadPipeIdentity({dir: pkiDir, name: NODE})
  const socket = tlsConnect({ca: identity.ca, cert: identity.cert, host: '127.0.0.1', key: identity.key, port, servername: 'hub'})
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
  socket.write(`${bytes}\n`)
  let received = 0
  for await (const chunk of socket) {
    received += (chunk as Buffer).length
    if (received >= bytes) break
  }

  socket.destroy()
  return received
}

/** One small-event case: its sender, and the children whose CPU is the bench's own, not "other". */
interface SmallCase {
  label: string
  send: SendEcho
}

/**
 * The three small-event cases in rounds that rotate through them (as the echo cases do, echo-cases.ts):
 * every case gets windows early and late in the section, so a change of the machine's state during it
 * (another process, steal, the garbage the bench's earlier sections left in this process) lands on all
 * three alike instead of on whichever ran first. Each case's reading of other processes' CPU covers its
 * own windows.
 */
async function measureRotating(cases: SmallCase[], pids: number[], settings: PipeSettings): Promise<LoadResult[][]> {
  const windows = cases.map(() => new Map<number, WindowSamples[]>())
  const others = cases.map(() => ({others: 0, seconds: 0, steal: 0}))
  const measureMs = (settings.measureSeconds * 1000) / settings.rounds
  for (let round = 0; round < settings.rounds; round++) {
    const order = cases.map((_, i) => (i + round) % cases.length)
    for (const concurrency of settings.concurrency) {
      for (const index of order) {
        const warmupMs = round === 0 ? settings.warmupSeconds * 1000 : REWARM_MS
        const started = performance.now()
        const watch = watchOtherCpu(pids)
        const samples = await runWindow(cases[index]!.send, {concurrency, measureMs, warmupMs})
        const cpu = watch()
        const seconds = (performance.now() - started) / 1000
        if (cpu) Object.assign(others[index]!, {others: others[index]!.others + cpu.others * seconds, seconds: others[index]!.seconds + seconds, steal: others[index]!.steal + cpu.steal * seconds})
        windows[index]!.set(concurrency, [...(windows[index]!.get(concurrency) ?? []), samples])
      }
    }
  }

  cases.forEach((c, i) => {
    const {others: o, seconds, steal} = others[i]!
    reportOtherCpu(c.label, seconds > 0 ? {others: o / seconds, steal: steal / seconds} : undefined)
  })
  return windows.map((byConcurrency) => settings.concurrency.map((c) => summarize(c, byConcurrency.get(c)!)))
}

export async function runPipeCases(settings: PipeSettings, dir: string): Promise<PipeResult> {
  const {connectPipeNode, createPipeHandler, loadPipeIdentity, startPipeHub} = await loadPipe()
  const pki = await makePipePki(join(dir, 'pipe'))
  await pki.addNode(NODE)
  const identity = (name: string) => loadPipeIdentity({dir: pki.dir, name})

  process.stderr.write('bench: pipe hub → node (hub here, node in a child), node → hub (node here, hub in a child) and the raw TLS NDJSON echo, in rotating rounds\n')
  const hub = await startPipeHub({handler: createPipeHandler({}), identity: await identity('hub'), port: 0})
  const children: Child[] = []
  let node: PipeNodeHandle | undefined
  let raw: {send: SendEcho; close(): void} | undefined
  let hubChild: Child | undefined
  try {
    const nodeChild = await startChild(['node', pki.dir, String(hub.address.port)])
    children.push(nodeChild)
    hubChild = await startChild(['hub', pki.dir, '0'])
    children.push(hubChild)
    const echoChild = await startChild(['raw-echo', pki.dir])
    children.push(echoChild)
    await hub.waitForNode(NODE)
    const port = hubChild.info.port!
    node = connectPipeNode({handler: createPipeHandler({}), hubName: 'hub', identity: await identity(NODE), to: {host: '127.0.0.1', port}})
    await node.connected()
    raw = await rawEchoClient(pki.dir, echoChild.info.port!)
    const client = node
    const [hubToNode, nodeToHub, rawTls] = await measureRotating(
      [
        {label: 'pipe hub → node', send: async (body) => readJson(await hub.request(NODE, echoEvent(body), T))},
        {label: 'pipe node → hub', send: async (body) => readJson(await client.request(echoEvent(body), T))},
        {label: 'raw TLS NDJSON echo', send: raw.send},
      ],
      children.map((child) => child.info.pid!),
      settings,
    )
    raw.close()

    process.stderr.write('bench: pipe bulk (hub here, node in a child) and raw TLS bulk (baseline)\n')
    await pipeBulk(hub, Math.min(settings.bulkBytes, 32 * 1024 * 1024)) // warm-up
    const bulk = await medianBulk(settings.rounds, () => pipeBulk(hub, settings.bulkBytes))
    const bulkChild = await startChild(['raw-bulk', pki.dir])
    children.push(bulkChild)
    await rawBulk(pki.dir, bulkChild.info.port!, Math.min(settings.bulkBytes, 32 * 1024 * 1024))
    const rawBulkResult = await medianBulk(settings.rounds, () => rawBulk(pki.dir, bulkChild.info.port!, settings.bulkBytes))

    process.stderr.write('bench: pipe hub restart (the hub child killed and started again)\n')
    await hubChild.kill()
    children.splice(children.indexOf(hubChild), 1)
    hubChild = await startChild(['hub', pki.dir, String(port)])
    children.push(hubChild)
    const listening = performance.now()
    // The first event may find the node still between attempts (it waits up to 5 s) or be refused: retry.
    for (;;) {
      const ok = await client.request({args: [], noun: 'echo', verb: 'POST'}, T).then(() => true, () => false)
      if (ok) break
    }

    const reconnectMs = performance.now() - listening
    return {bulk, hubToNode: hubToNode!, nodeToHub: nodeToHub!, rawBulk: rawBulkResult, rawTls: rawTls!, reconnectMs}
  } finally {
    raw?.close()
    await node?.close()
    await Promise.all(children.map((child) => child.stop()))
    await hub.close()
  }
}
