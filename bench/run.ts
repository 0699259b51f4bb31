// `npm run bench`: small-JSON echo over raw TCP, node:http + undici and korv over ssh2 at two
// concurrencies, then the cold start of `korv call`; prints the figures, ratios, target verdicts and a
// JSON summary (last line of stdout). Environment:
//   BENCH_SECONDS=3 (measured window per case)   BENCH_WARMUP_SECONDS=1   BENCH_CONCURRENCY=1,64
//   BENCH_COLD_RUNS=10   BENCH_ONLY=raw-tcp,http,korv,cold (a subset)
//   BENCH_PROF_DIR=dir (servers run with --cpu-prof, profiles written there: CPU.<date>.<pid>.<thread>...;
//   the main thread's is the biggest; profile the client with `node --cpu-prof --import tsx bench/run.ts`)
//
// Every server runs in a child process and every client in this one, the same arrangement for all three
// transports: on a 2-core machine client and server then each get a core, as they would across a real
// link, instead of one JS thread paying for both sides (which would add the server's CPU time to every
// request latency and hide whether pipelining overlaps work on the two ends).
import {createRequire} from 'node:module'
import {availableParallelism, cpus, loadavg} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {makeKorvKeys} from '../test/helpers/korv-fixture.js'
import {cleanup, exited, makeTempDir, spawnTracked, stopChild} from './children.js'
import {type EchoClient, connectHttp, connectKorv, connectTcp} from './clients.js'
import {measureColdStart} from './cold-start.js'
import {runClosedLoop} from './load.js'
import {type Measurements, TRANSPORTS, type Transport, computeRatios, computeVerdicts, printReport, summary} from './report.js'

const ROOT = join(import.meta.dirname, '..')

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`)
  return value
}

const settings = {
  coldRuns: Math.round(numberEnv('BENCH_COLD_RUNS', 10)),
  concurrency: (process.env.BENCH_CONCURRENCY ?? '1,64').split(',').map(Number),
  measureSeconds: numberEnv('BENCH_SECONDS', 3),
  only: new Set((process.env.BENCH_ONLY ?? [...TRANSPORTS, 'cold'].join(',')).split(',')),
  profDir: process.env.BENCH_PROF_DIR,
  warmupSeconds: numberEnv('BENCH_WARMUP_SECONDS', 1),
}

interface ServerChild {
  port: number
  stop(): Promise<void>
}

const SERVER_KIND: Record<Transport, string> = {http: 'http', korv: 'korv', 'raw-tcp': 'tcp'}

async function startServerChild(transport: Transport, keysDir: string): Promise<ServerChild> {
  // Default profile names: tsx's loader thread writes a profile of its own, which a fixed name would clobber.
  const prof = settings.profDir ? ['--cpu-prof', '--cpu-prof-dir', settings.profDir] : []
  const child = spawnTracked(process.execPath, ['--import', 'tsx', ...prof, join(ROOT, 'bench', 'server-child.ts'), SERVER_KIND[transport], keysDir], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({input: child.stdout!})
  const [first] = await Promise.race([
    new Promise<[string]>((resolve) => lines.once('line', (line) => resolve([line]))),
    exited(child).then((code) => Promise.reject(new Error(`the ${transport} server exited (${code}) before listening`))),
  ])
  lines.close()
  const {port} = JSON.parse(first) as {port: number}
  return {
    port,
    async stop() {
      // Ending stdin lets the child close and exit by itself (and write its CPU profile).
      child.stdin!.end()
      const timer = setTimeout(() => void stopChild(child), 5000)
      await exited(child)
      clearTimeout(timer)
    },
  }
}

function connectClient(transport: Transport, port: number, concurrency: number, keys: Awaited<ReturnType<typeof makeKorvKeys>>): Promise<EchoClient> {
  if (transport === 'raw-tcp') return connectTcp(port)
  if (transport === 'http') return connectHttp(port, concurrency)
  return connectKorv(port, keys)
}

/** What the korv case ran with: ssh2's native crypto binding and the cipher two ssh2 peers agree on (its first preference). */
function ssh2Setup(): {binding: boolean; cipher: string} {
  const require = createRequire(import.meta.url)
  const {bindingAvailable} = require('ssh2/lib/protocol/crypto.js') as {bindingAvailable: boolean}
  const {DEFAULT_CIPHER} = require('ssh2/lib/protocol/constants.js') as {DEFAULT_CIPHER: string[]}
  return {binding: bindingAvailable, cipher: DEFAULT_CIPHER[0] ?? 'unknown'}
}

/** Other processes competing for the cores skew every figure: say so next to them. */
function checkLoad(when: string): number {
  const [oneMinute = 0] = loadavg()
  if (oneMinute > availableParallelism() / 2) {
    process.stderr.write(`bench: warning: load average ${oneMinute.toFixed(2)} ${when} on ${availableParallelism()} cores: other processes compete for the CPU, figures will be noisy\n`)
  }

  return Math.round(oneMinute * 100) / 100
}

async function main(): Promise<void> {
  const loadBefore = checkLoad('before the run')
  const dir = makeTempDir('restwire-bench-')
  const keys = await makeKorvKeys(dir)
  const measurements: Measurements = {load: []}
  for (const transport of TRANSPORTS.filter((t) => settings.only.has(t))) {
    const server = await startServerChild(transport, dir)
    try {
      for (const concurrency of settings.concurrency) {
        const client = await connectClient(transport, server.port, concurrency, keys)
        try {
          const result = await runClosedLoop(client.send, {concurrency, measureMs: settings.measureSeconds * 1000, warmupMs: settings.warmupSeconds * 1000})
          measurements.load.push({...result, transport})
          process.stderr.write(`bench: ${transport} c=${concurrency}: ${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(3)} ms\n`)
        } finally {
          await client.close()
        }
      }
    } finally {
      await server.stop()
    }
  }

  if (settings.only.has('cold')) {
    process.stderr.write(`bench: cold start, ${settings.coldRuns} runs each\n`)
    measurements.cold = await measureColdStart(settings.coldRuns)
  }

  const loadAfter = checkLoad('after the run')
  const ratios = computeRatios(measurements, settings.concurrency)
  const verdicts = computeVerdicts(ratios)
  printReport(measurements, ratios, verdicts)
  const ssh2 = ssh2Setup()
  process.stdout.write(`\nkorv: ssh2 cipher ${ssh2.cipher}, native crypto binding ${ssh2.binding ? 'loaded' : 'MISSING'}\n`)
  const machine = {cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', loadAverage: {after: loadAfter, before: loadBefore}, node: process.version}
  const {only, ...rest} = settings
  process.stdout.write(`\nsummary (JSON):\n${summary(measurements, ratios, verdicts, {...rest, date: new Date().toISOString(), machine, only: [...only], ssh2})}\n`)
}

try {
  await main()
  cleanup()
  process.exit(0)
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  cleanup()
  process.exit(1)
}
