// The relay case (issue 5, "Performance"): the same small-JSON echo on a local node:http server, called
// (a) directly with an undici Pool (one keep-alive connection per worker) and (b) through the relay: a
// line-JSON client on one socket → relay (child process) → undici → the same server. Closed loop at each
// concurrency, rounds alternating the two, so machine noise lands on both alike.
// Processes: the HTTP server and the relay each in a child, clients in the bench process: the relay's
// own work (line parsing, undici client, replies) is paid on its own core, as in a deployment.
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {connect as netConnect} from 'node:net'
import {type EchoClient, connectHttp} from './clients.js'
import {exited, spawnTracked, stopChild} from './children.js'
import {lineWriter, onLines} from './line-socket.mjs'
import {type LoadResult, type WindowSamples, runWindow, summarize} from './load.js'

const ROOT = join(import.meta.dirname, '..')
const REWARM_MS = 200

export interface RelaySettings {
  concurrency: number[]
  warmupSeconds: number
  measureSeconds: number
  rounds: number
}

export interface RelayBenchResult {
  direct: LoadResult[]
  relay: LoadResult[]
}

interface Child {
  port: number
  /** Its process id (both children print it with their port). */
  pid: number
  stop(): Promise<void>
}

export async function startChild(script: string, args: string[]): Promise<Child> {
  const profDir = process.env.BENCH_PROF_DIR
  const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []
  const child = spawnTracked(process.execPath, ['--import', 'tsx', ...prof, join(ROOT, 'bench', script), ...args], {cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit']})
  const lines = createInterface({input: child.stdout!})
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    exited(child).then((code) => Promise.reject(new Error(`${script} ${args.join(' ')} exited (${code}) before listening`))),
  ])
  lines.close()
  const {pid, port} = JSON.parse(first) as {pid: number; port: number}
  return {
    pid,
    port,
    async stop() {
      child.stdin!.end()
      const timer = setTimeout(() => void stopChild(child), 5000)
      await exited(child)
      clearTimeout(timer)
    },
  }
}

/** A txhttprelay-style client: one socket, requests pipelined as lines, final replies matched by id. */
export async function connectRelay(port: number): Promise<EchoClient> {
  const socket = netConnect({host: '127.0.0.1', noDelay: true, port})
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const pending = new Map<number, (body: unknown) => void>()
  let nextId = 0
  const write = lineWriter(socket)
  onLines(socket, (line) => {
    if (line.startsWith('{"status":"dispatched"')) return
    const reply = JSON.parse(line) as {status: string; id: number; response: unknown}
    if (reply.status !== 'ok') throw new Error(`relay error reply: ${line}`)
    const resolve = pending.get(reply.id)
    pending.delete(reply.id)
    resolve?.(reply.response)
  })
  return {
    close: () => new Promise((resolve) => socket.end(resolve)),
    send: (body) =>
      new Promise((resolve) => {
        const id = ++nextId
        pending.set(id, resolve)
        write(JSON.stringify({data: body, id, request: 'echo'}))
      }),
  }
}

export async function runRelayCases(settings: RelaySettings): Promise<RelayBenchResult> {
  process.stderr.write('bench: relay vs direct undici, same HTTP echo server\n')
  const http = await startChild('echo-server.mjs', ['http'])
  let relay: Child | undefined
  const clients: EchoClient[] = []
  try {
    relay = await startChild('relay-child.ts', [String(http.port)])
    const cases = [] as Array<{kind: 'direct' | 'relay'; concurrency: number; client: EchoClient; windows: WindowSamples[]}>
    for (const concurrency of settings.concurrency) {
      for (const kind of ['direct', 'relay'] as const) {
        const client = kind === 'direct' ? await connectHttp(http.port, concurrency) : await connectRelay(relay.port)
        clients.push(client)
        cases.push({client, concurrency, kind, windows: []})
      }
    }

    const measureMs = (settings.measureSeconds * 1000) / settings.rounds
    for (let round = 0; round < settings.rounds; round++) {
      for (const entry of cases) {
        const warmupMs = round === 0 ? settings.warmupSeconds * 1000 : REWARM_MS
        entry.windows.push(await runWindow(entry.client.send, {concurrency: entry.concurrency, measureMs, warmupMs}))
      }
    }

    const results = (kind: 'direct' | 'relay'): LoadResult[] => cases.filter((c) => c.kind === kind).map((c) => summarize(c.concurrency, c.windows))
    return {direct: results('direct'), relay: results('relay')}
  } finally {
    await Promise.all(clients.map((client) => client.close().catch(() => {})))
    await relay?.stop()
    await http.stop()
  }
}
