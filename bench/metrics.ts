// "korv + metrics": the korv echo at concurrency 64 with a TrafficLog and ServerMetrics attached (and
// /metrics scraped every 5 s), against the same korv server without them, in the same run. Windows
// alternate between the two (the order flips every round), and besides the throughput each window
// measures the server process's CPU time (utime + stime from /proc/PID/stat) per request, which the
// load of other processes on a shared machine disturbs far less than requests per second.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import type {KorvKeys} from '../test/helpers/korv-fixture.js'
import {exited, spawnTracked, stopChild} from './children.js'
import {type EchoClient, connectKorv} from './clients.js'
import {runWindow} from './load.js'

const ROOT = join(import.meta.dirname, '..')
const CONCURRENCY = 64
const VARIANTS = ['plain', 'metrics'] as const
type Variant = (typeof VARIANTS)[number]

export interface MetricsBenchSettings {
  warmupSeconds: number
  measureSeconds: number
  rounds: number
}

export interface MetricsVariantResult {
  requests: number
  seconds: number
  rps: number
  /** Server CPU time per request, in microseconds; undefined without /proc. */
  cpuUsPerRequest: number | undefined
}

export interface MetricsBenchResult {
  concurrency: number
  plain: MetricsVariantResult
  metrics: MetricsVariantResult
  /** metrics ÷ plain: throughput (higher is better) and CPU per request (lower is better). */
  rpsRatio: number
  cpuRatio: number | undefined
}

/** utime + stime of a process, in clock ticks (100 a second on Linux); undefined without /proc. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return undefined
  }
}

async function startChild(variant: Variant, keysDir: string): Promise<{pid: number; port: number; stop(): Promise<void>}> {
  const child = spawnTracked(process.execPath, [...(process.env.BENCH_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', join(process.env.BENCH_PROF_DIR, variant)] : []), '--import', 'tsx', join(ROOT, 'bench', 'metrics-child.ts'), variant, keysDir], {cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit']})
  const lines = createInterface({input: child.stdout!})
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    exited(child).then((code) => Promise.reject(new Error(`the korv (${variant}) server exited (${code}) before listening`))),
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

export async function runMetricsCases(settings: MetricsBenchSettings, keys: KorvKeys): Promise<MetricsBenchResult> {
  process.stderr.write(`bench: korv + metrics against korv, c=${CONCURRENCY}, ${settings.rounds} alternating rounds\n`)
  const servers = new Map<Variant, Awaited<ReturnType<typeof startChild>>>()
  const clients = new Map<Variant, EchoClient>()
  const totals = new Map<Variant, {requests: number; seconds: number; ticks: number; ticked: boolean}>()
  try {
    for (const variant of VARIANTS) servers.set(variant, await startChild(variant, keys.dir))
    for (const variant of VARIANTS) clients.set(variant, await connectKorv(servers.get(variant)!.port, keys))
    const measureMs = (settings.measureSeconds * 1000) / settings.rounds
    for (let round = 0; round < settings.rounds; round++) {
      const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()
      for (const variant of order) {
        const {pid} = servers.get(variant)!
        // The warm-up runs first, then CPU is read around the measured window only.
        await runWindow(clients.get(variant)!.send, {concurrency: CONCURRENCY, measureMs: round === 0 ? settings.warmupSeconds * 1000 : 200, warmupMs: 0})
        const before = cpuTicks(pid)
        const samples = await runWindow(clients.get(variant)!.send, {concurrency: CONCURRENCY, measureMs, warmupMs: 0})
        const after = cpuTicks(pid)
        const total = totals.get(variant) ?? {requests: 0, seconds: 0, ticked: true, ticks: 0}
        total.requests += samples.latencies.length
        total.seconds += samples.seconds
        if (before === undefined || after === undefined) total.ticked = false
        else total.ticks += after - before
        totals.set(variant, total)
      }

      process.stderr.write(`bench: metrics round ${round + 1}/${settings.rounds} done\n`)
    }
  } finally {
    await Promise.all([...clients.values()].map((client) => client.close()))
    await Promise.all([...servers.values()].map((server) => server.stop()))
  }

  const result = (variant: Variant): MetricsVariantResult => {
    const {requests, seconds, ticked, ticks} = totals.get(variant)!
    return {cpuUsPerRequest: ticked && requests > 0 ? (ticks * 10_000) / requests : undefined, requests, rps: requests / seconds, seconds}
  }

  const plain = result('plain')
  const metrics = result('metrics')
  const cpuRatio = plain.cpuUsPerRequest && metrics.cpuUsPerRequest !== undefined ? metrics.cpuUsPerRequest / plain.cpuUsPerRequest : undefined
  return {concurrency: CONCURRENCY, cpuRatio, metrics, plain, rpsRatio: metrics.rps / plain.rps}
}

export function printMetricsReport(result: MetricsBenchResult): void {
  const cpu = (value: number | undefined): string => (value === undefined ? 'n/a' : `${value.toFixed(1)} µs CPU/request`)
  const line = (name: string, r: MetricsVariantResult): string => `  ${name.padEnd(16)} ${Math.round(r.rps).toString().padStart(7)} req/s   ${cpu(r.cpuUsPerRequest)} (server)`
  process.stdout.write(`\nkorv + metrics (c=${result.concurrency}, same run, alternating windows)\n`)
  process.stdout.write(`${line('korv', result.plain)}\n${line('korv + metrics', result.metrics)}\n`)
  const cpuRatio = result.cpuRatio === undefined ? 'n/a' : result.cpuRatio.toFixed(3)
  const within = result.rpsRatio >= 0.95 && (result.cpuRatio === undefined || result.cpuRatio <= 1.05)
  process.stdout.write(`  ratio korv+metrics/korv: throughput ${result.rpsRatio.toFixed(3)}, server CPU per request ${cpuRatio}  (target: within 5%: ${within ? 'met' : 'NOT met'})\n`)
}
