// The scale section (issue #15): many idle connections on one server, and requests spread over them.
//   korv    1,000 SSH connections (one korv client each) to one korv server
//   pipe    200 pipe nodes connected to one hub
//   tunnel  200 tunnel nodes connected to one gateway
// For each: the server's RSS (and heap) before and after, after GC (the child runs with --expose-gc),
// as KiB per idle connection = delta / N, read twice: right after the connections opened, and once they
// have been idle for BENCH_SCALE_SETTLE_SECONDS (default 15). The first reading is mostly V8's young
// generation, grown to several MiB by the allocations of N handshakes in a row; V8's memory reducer gives
// it back after a few idle seconds (a bare ssh2 server, 1,000 connections: 35 KiB each at once, 22 KiB
// idle), so the idle reading is the cost of holding a connection. Then a closed loop at c=64 whose requests go round-robin over
// all N connections (korv: client → server; pipe: node → hub; tunnel: HTTP API → gateway → node), p99
// under load. Servers run in a child from dist/ (scale-child.ts); the N clients here, from dist/ too.
// BENCH_SCALE=korv:1000,pipe:200,tunnel:200 sets the counts (0 skips one).
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

/** RSS and heap per connection, then the round-robin load; `open` returns the senders and a closer. */
async function measure(
  kind: ScaleRow['kind'],
  child: ScaleChild,
  count: number,
  ctx: CaseContext,
  open: () => Promise<{sends: SendEcho[]; close(): Promise<void>}>,
): Promise<ScaleRow> {
  // The child's start-up garbage and grown heap settle too before the first reading.
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  const before = (await child.ask('mem')) as unknown as Memory
  const opened = await open()
  try {
    // Let handshakes finish their last writes and timers settle before reading the idle figure.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const atOnce = (await child.ask('mem')) as unknown as Memory
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const after = (await child.ask('mem')) as unknown as Memory
    if (process.env.BENCH_SCALE_SNAPSHOTS) await child.ask(`snap ${join(process.env.BENCH_SCALE_SNAPSHOTS, `${kind}-${count}.heapsnapshot`)}`)
    let next = 0
    const send: SendEcho = (body) => opened.sends[next++ % opened.sends.length]!(body)
    const window = await runWindow(send, {concurrency: LOAD_CONCURRENCY, measureMs: ctx.settings.measureSeconds * 1000, warmupMs: ctx.settings.warmupSeconds * 1000})
    const per = (key: 'rss' | 'heapUsed' | 'external'): number => (after[key] - before[key]) / count / KIB
    return {
      connections: count,
      externalKibPerConnection: per('external'),
      gc: after.gc,
      heapKibPerConnection: per('heapUsed'),
      kind,
      load: summarize(LOAD_CONCURRENCY, [window]),
      rssKibPerConnection: per('rss'),
      rssKibPerConnectionAtOnce: (atOnce.rss - before.rss) / count / KIB,
    }
  } finally {
    await opened.close()
  }
}

async function korvScale(ctx: CaseContext, count: number): Promise<ScaleRow> {
  const {KorvClient} = await dist<KorvModule>('core/korv/index.js')
  const child = await startScaleChild('korv', ctx.keys.dir)
  try {
    return await measure('korv', child, count, ctx, async () => {
      const options = {hostKeyPolicy: 'accept-new' as const, identities: [ctx.keys.clientKey], knownHostsPath: ctx.keys.knownHostsPath, port: child.info.port}
      await (await KorvClient.connect(options)).close() // records the host key once, before the crowd
      const clients = await openAll(count, () => KorvClient.connect(options))
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
    return await measure('pipe', child, count, ctx, async () => {
      const handler = pipe.createPipeHandler({functions: {}})
      const nodes = await openAll(count, async (i) => {
        const node = pipe.connectPipeNode({handler, hubName: 'hub', identity: await pipe.loadPipeIdentity({dir: pki.dir, name: names[i]!}), to: {host: '127.0.0.1', port: child.info.port}})
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
    return await measure('tunnel', child, count, ctx, async () => {
      const authorizedKeys = await tunnel.AuthorizedKeysFile.open(keys.authorizedKeysPath)
      const router = new tunnel.Router().route('POST', '/echo', (req) => req.body)
      const nodes = await openAll(count, async (i) => {
        const node = tunnel.exposeNode({authorizedKeys, hostKeys: [{privateKey: keys.nodeHostKey.privateKey}], nodeId: `scale-${i}`, router, to: {host: '127.0.0.1', port: child.info.port}})
        await node.connected()
        return node
      })
      const pool = new Pool(`http://127.0.0.1:${child.info.httpPort}`, {connections: LOAD_CONCURRENCY})
      const sends = nodes.map((_, i) => async (body: unknown) => {
        const response = await pool.request({body: JSON.stringify(body), headers: {'content-type': 'application/json'}, method: 'POST', path: `/nodes/scale-${i}/echo`})
        if (response.statusCode !== 200) throw new Error(`tunnel scale-${i}: HTTP ${response.statusCode} ${await response.body.text()}`)
        return response.body.json()
      })
      return {
        async close() {
          await pool.close()
          await Promise.all(nodes.map((node) => node.close()))
        },
        sends,
      }
    })
  } finally {
    await child.stop()
  }
}

function counts(): Record<ScaleRow['kind'], number> {
  const result = {korv: 1000, pipe: 200, tunnel: 200}
  for (const part of (process.env.BENCH_SCALE ?? '').split(',').filter(Boolean)) {
    const [kind, value] = part.split(':')
    if (!(kind! in result) || !(Number(value) >= 0)) throw new Error(`BENCH_SCALE: bad entry "${part}" (korv:N,pipe:N,tunnel:N)`)
    result[kind as ScaleRow['kind']] = Number(value)
  }

  return result
}

const fixed = (value: number, digits: number, width: number): string => value.toFixed(digits).padStart(width)

function print(rows: ScaleRow[]): void {
  const out = ['', `scale: idle connections on one server (KiB each = server delta / N, after GC; idle = after ${SETTLE_MS / 1000} s), then c=${LOAD_CONCURRENCY} round-robin over all of them`, '']
  out.push(`${'server'.padEnd(22)}${'N'.padStart(6)}${'RSS at once'.padStart(12)}${'RSS idle'.padStart(9)}${'heap KiB'.padStart(10)}${'ext KiB'.padStart(9)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`)
  const label = {korv: 'korv server', pipe: 'pipe hub (nodes)', tunnel: 'tunnel gateway (nodes)'}
  for (const r of rows) {
    out.push(
      `${label[r.kind].padEnd(22)}${String(r.connections).padStart(6)}${fixed(r.rssKibPerConnectionAtOnce, 1, 12)}${fixed(r.rssKibPerConnection, 1, 9)}${fixed(r.heapKibPerConnection, 1, 10)}${fixed(r.externalKibPerConnection, 1, 9)}` +
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
