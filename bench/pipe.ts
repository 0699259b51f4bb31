// The pipe cases (issue #4, "Performance"), each next to its raw TLS baseline in the same run:
// 1. Small events, closed loop at each concurrency: hub → node (hub in this process, node in a child),
//    node → hub (node here, hub in a child), and a raw TLS NDJSON echo (client here, server in a child,
//    one connection, requests pipelined and matched by n). The pipe's event is POST echo with the JSON
//    body {"n", "msg"}, answered with the same bytes; the client parses the reply as JSON.
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
import {type LoadResult, type SendEcho, measureInRounds} from './load.js'
import {reportOtherCpu, watchOtherCpu} from './other-cpu.js'
import {loadNdjson, loadPipe} from './dist.js'

const ROOT = join(import.meta.dirname, '..')
const NODE = 'bench-node'
const T = {timeoutMs: 30_000}

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

export async function runPipeCases(settings: PipeSettings, dir: string): Promise<PipeResult> {
  const {connectPipeNode, createPipeHandler, loadPipeIdentity, startPipeHub} = await loadPipe()
  const pki = await makePipePki(join(dir, 'pipe'))
  await pki.addNode(NODE)
  const identity = (name: string) => loadPipeIdentity({dir: pki.dir, name})

  process.stderr.write('bench: pipe hub → node (hub here, node in a child), and bulk\n')
  const hub = await startPipeHub({handler: createPipeHandler({}), identity: await identity('hub'), port: 0})
  const nodeChild = await startChild(['node', pki.dir, String(hub.address.port)])
  let hubToNode: LoadResult[]
  let bulk: BulkResult
  try {
    await hub.waitForNode(NODE)
    const others = watchOtherCpu([nodeChild.info.pid!])
    hubToNode = await measureInRounds(async (body) => readJson(await hub.request(NODE, echoEvent(body), T)), settings)
    reportOtherCpu('pipe hub → node', others())
    await pipeBulk(hub, Math.min(settings.bulkBytes, 32 * 1024 * 1024)) // warm-up
    bulk = await medianBulk(settings.rounds, () => pipeBulk(hub, settings.bulkBytes))
  } finally {
    await nodeChild.stop()
    await hub.close()
  }

  process.stderr.write('bench: pipe node → hub (node here, hub in a child), then hub restart\n')
  let hubChild = await startChild(['hub', pki.dir, '0'])
  const port = hubChild.info.port!
  let node: PipeNodeHandle | undefined
  let nodeToHub: LoadResult[]
  let reconnectMs: number
  try {
    node = connectPipeNode({handler: createPipeHandler({}), hubName: 'hub', identity: await identity(NODE), to: {host: '127.0.0.1', port}})
    await node.connected()
    const client = node
    const others = watchOtherCpu([hubChild.info.pid!])
    nodeToHub = await measureInRounds(async (body) => readJson(await client.request(echoEvent(body), T)), settings)
    reportOtherCpu('pipe node → hub', others())
    await hubChild.kill()
    hubChild = await startChild(['hub', pki.dir, String(port)])
    const listening = performance.now()
    // The first event may find the node still between attempts (it waits up to 5 s) or be refused: retry.
    for (;;) {
      const ok = await client.request({args: [], noun: 'echo', verb: 'POST'}, T).then(() => true, () => false)
      if (ok) break
    }

    reconnectMs = performance.now() - listening
  } finally {
    await node?.close()
    await hubChild.stop()
  }

  process.stderr.write('bench: raw TLS NDJSON echo and raw TLS bulk (baselines)\n')
  const echoChild = await startChild(['raw-echo', pki.dir])
  const bulkChild = await startChild(['raw-bulk', pki.dir])
  let rawTls: LoadResult[]
  let rawBulkResult: BulkResult
  try {
    const client = await rawEchoClient(pki.dir, echoChild.info.port!)
    const others = watchOtherCpu([echoChild.info.pid!, bulkChild.info.pid!])
    rawTls = await measureInRounds(client.send, settings)
    reportOtherCpu('raw TLS NDJSON echo', others())
    client.close()
    await rawBulk(pki.dir, bulkChild.info.port!, Math.min(settings.bulkBytes, 32 * 1024 * 1024))
    rawBulkResult = await medianBulk(settings.rounds, () => rawBulk(pki.dir, bulkChild.info.port!, settings.bulkBytes))
  } finally {
    await echoChild.stop()
    await bulkChild.stop()
  }

  return {bulk, hubToNode, nodeToHub, rawBulk: rawBulkResult, rawTls, reconnectMs}
}
