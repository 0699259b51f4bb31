// The scale section (issue #15): many idle connections on one server, and requests spread over them.
//   korv    1,000 SSH connections (one korv client each) to one korv server
//   pipe    400 pipe nodes connected to one hub
//   tunnel  400 tunnel nodes connected to one gateway
// Memory per idle connection is the marginal cost of one more connection: the first half of the N
// connections is opened and left idle for BENCH_SCALE_SETTLE_SECONDS (default 15), then the server's
// memory is read (after GC: the child runs with --expose-gc); the second half is opened, left idle as
// long, and read again; KiB per connection = delta / (N/2). What the first connections pay once and no
// later one pays again (code pages of node and OpenSSL read in from the binary, JIT-compiled handshake
// code, the grown V8 heap) is in the baseline instead of being divided among the N. Read right after
// the second half opened ("at once"), the figure is mostly V8's young generation, grown by the
// allocations of many handshakes in a row; V8's memory reducer gives it back after a few idle seconds.
// RSS is also given as its anonymous part (RssAnon: malloc and the V8 heap, without file pages), as
// "held" (RSS less the V8 heap's free space, which V8's sizing moves by tens of KiB per connection
// between two readings on a loaded machine), and heap in use. Then a closed loop at c=64 whose requests go round-robin over all N connections (korv:
// client → server; pipe: node → hub; tunnel: HTTP API → gateway → node), p99 under load. Servers run in
// a child from dist/ (scale-child.ts); the N clients here, from dist/ too.
// BENCH_SCALE=korv:1000,pipe:400,tunnel:400 sets the counts (0 skips one).
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {Pool} from 'undici'
import {makePipePki} from '../test/helpers/pipe-pki.js'
import {makeTunnelKeys, trustNode} from '../test/helpers/tunnel-fixture.js'
import {exited, spawnTracked, stopChild} from './children.js'
import type {BenchCase, CaseContext} from './extra-cases.js'
import {type LoadResult, type SendEcho, runWindow, summarize} from './load.js'

type KorvModule = typeof import('../src/core/korv/index.js')
type PipeModule = typeof import('../src/core/pipe/index.js')
type TunnelModule = typeof import('../src/core/tunnel/index.js')
const dist = async <T>(path: string): Promise<T> => (await import(new URL(`../dist/${path}`, import.meta.url).href)) as T

const ROOT = join(import.meta.dirname, '..')
/** Connections opened at once: under every server's default MaxStartups (100). */
const BATCH = 50
const LOAD_CONCURRENCY = 64
const KIB = 1024
const SETTLE_MS = Number(process.env.BENCH_SCALE_SETTLE_SECONDS ?? 15) * 1000

interface Memory {
  rss: number
  /** RssAnon from /proc/self/status (Linux), in bytes; 0 elsewhere. */
  rssAnon: number
  heapTotal: number
  heapUsed: number
  external: number
  gc: boolean
}

export interface ScaleRow {
  kind: 'korv' | 'pipe' | 'tunnel'
  connections: number
  /** Right after the N connections opened (young generation still grown). */
  rssKibPerConnectionAtOnce: number
  /** Idle: after SETTLE_MS. */
  rssKibPerConnection: number
  /** The anonymous part of it (malloc, V8 heap), idle. */
  rssAnonKibPerConnection: number
  /**
   * RSS less the V8 heap's free space (heapTotal - heapUsed), idle: what the connections hold, without
   * the swings of V8's sizing (young generation, free old-space pages) that move RSS by tens of KiB per
   * connection between two readings on a loaded machine.
   */
  heldKibPerConnection: number
  heapKibPerConnection: number
  externalKibPerConnection: number
  gc: boolean
  load: LoadResult
}

interface ScaleChild {
  info: Record<string, number>
  ask(command: string): Promise<Record<string, unknown>>
  stop(): Promise<void>
}

async function startScaleChild(kind: string, dir: string): Promise<ScaleChild> {
  const child = spawnTracked(process.execPath, ['--expose-gc', '--import', 'tsx', join(ROOT, 'bench', 'scale-child.ts'), kind, dir], {cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit']})
  const lines = createInterface({input: child.stdout!})
  const answers: Array<(line: string) => void> = []
  let first: ((line: string) => void) | undefined
  lines.on('line', (line) => (first ? (first(line), (first = undefined)) : answers.shift()?.(line)))
  const ready = await Promise.race([
    new Promise<string>((resolve) => (first = resolve)),
    exited(child).then((code) => Promise.reject(new Error(`scale ${kind} child exited (${code}) before it was ready`))),
  ])
  return {
    ask(command) {
      return new Promise((resolve) => {
        answers.push((line) => resolve(JSON.parse(line) as Record<string, unknown>))
        child.stdin!.write(command + '\n')
      })
    },
    info: JSON.parse(ready) as Record<string, number>,
    async stop() {
      child.stdin!.end()
      const timer = setTimeout(() => void stopChild(child), 10_000)
      await exited(child)
      clearTimeout(timer)
    },
  }
}

/** Opens `count` things, BATCH at a time. */
async function openAll<T>(count: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const opened: T[] = []
  for (let from = 0; from < count; from += BATCH) {
    opened.push(...(await Promise.all(Array.from({length: Math.min(BATCH, count - from)}, (_, k) => open(from + k)))))
  }

  return opened
}

interface Opened {
  sends: SendEcho[]
  close(): Promise<void>
}

/** Memory per connection (the second half's), then the round-robin load; `open` opens `count` more connections from index `from`. */
async function measure(kind: ScaleRow['kind'], child: ScaleChild, count: number, ctx: CaseContext, open: (from: number, count: number) => Promise<Opened>): Promise<ScaleRow> {
  const settle = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  const half = Math.floor(count / 2)
  const parts: Opened[] = []
  try {
    parts.push(await open(0, half))
    // The first half idle: its one-off costs and the child's start-up garbage settle before the baseline.
    await settle()
    const before = (await child.ask('mem')) as unknown as Memory
    parts.push(await open(half, count - half))
    // Let handshakes finish their last writes and timers settle before reading the idle figure.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const atOnce = (await child.ask('mem')) as unknown as Memory
    await settle()
    const after = (await child.ask('mem')) as unknown as Memory
    if (process.env.BENCH_SCALE_SNAPSHOTS) await child.ask(`snap ${join(process.env.BENCH_SCALE_SNAPSHOTS, `${kind}-${count}.heapsnapshot`)}`)
    const sends = parts.flatMap((part) => part.sends)
    let next = 0
    const send: SendEcho = (body) => sends[next++ % sends.length]!(body)
    const window = await runWindow(send, {concurrency: LOAD_CONCURRENCY, measureMs: ctx.settings.measureSeconds * 1000, warmupMs: ctx.settings.warmupSeconds * 1000})
    const added = count - half
    const per = (key: 'rss' | 'rssAnon' | 'heapUsed' | 'external'): number => (after[key] - before[key]) / added / KIB
    const held = (m: Memory): number => m.rss - (m.heapTotal - m.heapUsed)
    return {
      connections: count,
      externalKibPerConnection: per('external'),
      gc: after.gc,
      heapKibPerConnection: per('heapUsed'),
      heldKibPerConnection: (held(after) - held(before)) / added / KIB,
      kind,
      load: summarize(LOAD_CONCURRENCY, [window]),
      rssAnonKibPerConnection: per('rssAnon'),
      rssKibPerConnection: per('rss'),
      rssKibPerConnectionAtOnce: (atOnce.rss - before.rss) / added / KIB,
    }
  } finally {
    await Promise.all(parts.map((part) => part.close()))
  }
}

async function korvScale(ctx: CaseContext, count: number): Promise<ScaleRow> {
  const {KorvClient} = await dist<KorvModule>('core/korv/index.js')
  const child = await startScaleChild('korv', ctx.keys.dir)
  try {
    const options = {hostKeyPolicy: 'accept-new' as const, identities: [ctx.keys.clientKey], knownHostsPath: ctx.keys.knownHostsPath, port: child.info.port}
    await (await KorvClient.connect(options)).close() // records the host key once, before the crowd
    return await measure('korv', child, count, ctx, async (_from, n) => {
      const clients = await openAll(n, () => KorvClient.connect(options))
      const sends = clients.map((client) => async (body: unknown) => (await client.request('STORE', '/echo', body)).body)
      return {close: async () => void (await Promise.all(clients.map((client) => client.close()))), sends}
    })
  } finally {
    await child.stop()
  }
}

async function pipeScale(ctx: CaseContext, count: number): Promise<ScaleRow> {
  const pipe = await dist<PipeModule>('core/pipe/index.js')
  const pki = await makePipePki(join(ctx.dir, 'scale-pipe'))
  const names = Array.from({length: count}, (_, i) => `scale-${i}`)
  await openAll(count, (i) => pki.addNode(names[i]!))
  const child = await startScaleChild('pipe', pki.dir)
  try {
    const handler = pipe.createPipeHandler({functions: {}})
    return await measure('pipe', child, count, ctx, async (from, n) => {
      const nodes = await openAll(n, async (i) => {
        const node = pipe.connectPipeNode({handler, hubName: 'hub', identity: await pipe.loadPipeIdentity({dir: pki.dir, name: names[from + i]!}), to: {host: '127.0.0.1', port: child.info.port}})
        await node.connected()
        return node
      })
      const sends = nodes.map((node) => async (body: unknown) => {
        const reply = await node.request({args: [], body: JSON.stringify(body), contentType: 'application/json', noun: 'echo', verb: 'POST'}, {timeoutMs: 30_000})
        return JSON.parse((await reply.read()).toString('utf8')) as unknown
      })
      return {close: async () => void (await Promise.all(nodes.map((node) => node.close()))), sends}
    })
  } finally {
    await child.stop()
  }
}

async function tunnelScale(ctx: CaseContext, count: number): Promise<ScaleRow> {
  const tunnel = await dist<TunnelModule>('core/tunnel/index.js')
  const dir = join(ctx.dir, 'scale-tunnel')
  mkdirSync(dir)
  const keys = await makeTunnelKeys(dir)
  await trustNode(keys.knownNodesPath, 'scale-*', keys.nodeHostPublicKey)
  const child = await startScaleChild('tunnel', dir)
  try {
    const authorizedKeys = await tunnel.AuthorizedKeysFile.open(keys.authorizedKeysPath)
    const router = new tunnel.Router().route('POST', '/echo', (req) => req.body)
    const pool = new Pool(`http://127.0.0.1:${child.info.httpPort}`, {connections: LOAD_CONCURRENCY})
    try {
      return await measure('tunnel', child, count, ctx, async (from, n) => {
        const nodes = await openAll(n, async (i) => {
          const node = tunnel.exposeNode({authorizedKeys, hostKeys: [{privateKey: keys.nodeHostKey.privateKey}], nodeId: `scale-${from + i}`, router, to: {host: '127.0.0.1', port: child.info.port}})
          await node.connected()
          return node
        })
        const sends = nodes.map((_, i) => async (body: unknown) => {
          const response = await pool.request({body: JSON.stringify(body), headers: {'content-type': 'application/json'}, method: 'POST', path: `/nodes/scale-${from + i}/echo`})
          if (response.statusCode !== 200) throw new Error(`tunnel scale-${from + i}: HTTP ${response.statusCode} ${await response.body.text()}`)
          return response.body.json()
        })
        return {close: async () => void (await Promise.all(nodes.map((node) => node.close()))), sends}
      })
    } finally {
      await pool.close()
    }
  } finally {
    await child.stop()
  }
}

function counts(): Record<ScaleRow['kind'], number> {
  const result = {korv: 1000, pipe: 400, tunnel: 400}
  for (const part of (process.env.BENCH_SCALE ?? '').split(',').filter(Boolean)) {
    const [kind, value] = part.split(':')
    if (!(kind! in result) || !(Number(value) >= 0)) throw new Error(`BENCH_SCALE: bad entry "${part}" (korv:N,pipe:N,tunnel:N)`)
    result[kind as ScaleRow['kind']] = Number(value)
  }

  return result
}

const fixed = (value: number, digits: number, width: number): string => value.toFixed(digits).padStart(width)

function print(rows: ScaleRow[]): void {
  const out = ['', `scale: idle connections on one server (KiB each = server delta over the second N/2 / (N/2), after GC; idle = after ${SETTLE_MS / 1000} s), then c=${LOAD_CONCURRENCY} round-robin over all of them`, '']
  out.push(`${'server'.padEnd(22)}${'N'.padStart(6)}${'RSS at once'.padStart(12)}${'RSS idle'.padStart(9)}${'anon'.padStart(7)}${'held'.padStart(7)}${'heap KiB'.padStart(10)}${'ext KiB'.padStart(9)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`)
  const label = {korv: 'korv server', pipe: 'pipe hub (nodes)', tunnel: 'tunnel gateway (nodes)'}
  for (const r of rows) {
    out.push(
      `${label[r.kind].padEnd(22)}${String(r.connections).padStart(6)}${fixed(r.rssKibPerConnectionAtOnce, 1, 12)}${fixed(r.rssKibPerConnection, 1, 9)}${fixed(r.rssAnonKibPerConnection, 1, 7)}${fixed(r.heldKibPerConnection, 1, 7)}${fixed(r.heapKibPerConnection, 1, 10)}${fixed(r.externalKibPerConnection, 1, 9)}` +
        `${fixed(r.load.rps, 0, 9)}${fixed(r.load.p50Ms, 3, 9)}${fixed(r.load.p99Ms, 3, 9)}`,
    )
  }

  out.push('', 'target: ≤ 32 KiB RSS per idle connection for each (the idle column)')
  process.stdout.write(out.join('\n') + '\n')
}

export const scaleCase: BenchCase = {
  name: 'scale',
  async run(ctx) {
    const n = counts()
    const rows: ScaleRow[] = []
    const steps: Array<[ScaleRow['kind'], (c: CaseContext, count: number) => Promise<ScaleRow>]> = [['korv', korvScale], ['pipe', pipeScale], ['tunnel', tunnelScale]]
    for (const [kind, step] of steps) {
      if (n[kind] === 0) continue
      process.stderr.write(`bench: scale, ${n[kind]} ${kind} connections\n`)
      rows.push(await step(ctx, n[kind]))
    }

    print(rows)
    const ratios = Object.fromEntries(rows.map((r) => [`${r.kind} KiB per idle connection`, r.rssKibPerConnection]))
    return {ratios, summary: rows}
  },
}
