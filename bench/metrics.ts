// "korv + metrics": the korv echo at concurrency 64 with a TrafficLog and ServerMetrics attached (and
// /metrics scraped every 5 s), against the same korv server without them, in the same run. Windows
// alternate between the two (A/B, the order flipping every round), and each window measures the server
// process's CPU time (utime + stime from /proc/PID/stat) per request, which the load of other processes
// on a shared machine disturbs far less than requests per second. The figure is the median over the
// rounds of each round's metrics/plain ratio (a round disturbed by a burst of other load moves the
// median little), with the spread of those ratios beside it. Its own time, independent of BENCH_SECONDS
// (the other cases' 1 s windows were noisier than the 5% the target allows):
//   BENCH_METRICS_SECONDS=32 (measured, both servers together)   BENCH_METRICS_ROUNDS=8
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import type {KorvKeys} from '../test/helpers/korv-fixture.js'
import {exited, spawnTracked, stopChild} from './children.js'
import {type EchoClient, connectKorv} from './clients.js'
import {median, runWindow} from './load.js'
import {type Verdict, printVerdicts} from './report.js'

const ROOT = join(import.meta.dirname, '..')
const CONCURRENCY = 64
const VARIANTS = ['plain', 'metrics'] as const
type Variant = (typeof VARIANTS)[number]

export interface MetricsBenchSettings {
  warmupSeconds: number
  /** Measured time of the two servers together, split over the rounds. */
  metricsSeconds: number
  metricsRounds: number
}

/** The target (issue 14): metrics cost the korv server at most 5%; the goal is what a counter should cost. */
const TARGET_RATIO = 1.05
const GOAL_RATIO = 1.02

export interface MetricsVariantResult {
  requests: number
  seconds: number
  rps: number
  /** Server CPU time per request, in microseconds; undefined without /proc. */
  cpuUsPerRequest: number | undefined
}

/** The metrics/plain ratios of the rounds: their median, and the spread (lowest, quartiles, highest). */
export interface RatioSpread {
  median: number
  min: number
  q1: number
  q3: number
  max: number
}

export interface MetricsBenchResult {
  concurrency: number
  rounds: number
  windowSeconds: number
  /** Each variant's windows pooled. */
  plain: MetricsVariantResult
  metrics: MetricsVariantResult
  /** metrics ÷ plain per round: throughput (higher is better) and server CPU per request (lower is better). */
  rpsRatio: RatioSpread
  cpuRatio: RatioSpread | undefined
  verdicts: Verdict[]
}

function spread(values: number[]): RatioSpread {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (p: number): number => {
    // Linear interpolation between the closest ranks.
    const rank = p * (sorted.length - 1)
    const low = Math.floor(rank)
    return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (rank - low)
  }

  return {max: sorted.at(-1)!, median: median(sorted), min: sorted[0]!, q1: at(0.25), q3: at(0.75)}
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

interface Window {
  requests: number
  seconds: number
  /** CPU ticks of the server over the window; undefined without /proc. */
  ticks: number | undefined
}

export async function runMetricsCases(settings: MetricsBenchSettings, keys: KorvKeys): Promise<MetricsBenchResult> {
  const rounds = Math.max(2, Math.round(settings.metricsRounds))
  const windowMs = (settings.metricsSeconds * 1000) / (2 * rounds)
  process.stderr.write(`bench: korv + metrics against korv, c=${CONCURRENCY}, ${rounds} alternating rounds of ${(windowMs / 1000).toFixed(1)} s windows\n`)
  const servers = new Map<Variant, Awaited<ReturnType<typeof startChild>>>()
  const clients = new Map<Variant, EchoClient>()
  const windows = new Map<Variant, Window[]>(VARIANTS.map((variant) => [variant, []]))
  try {
    for (const variant of VARIANTS) servers.set(variant, await startChild(variant, keys.dir))
    for (const variant of VARIANTS) clients.set(variant, await connectKorv(servers.get(variant)!.port, keys))
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()
      for (const variant of order) {
        const {pid} = servers.get(variant)!
        // The warm-up runs first, then CPU is read around the measured window only.
        await runWindow(clients.get(variant)!.send, {concurrency: CONCURRENCY, measureMs: round === 0 ? settings.warmupSeconds * 1000 : 200, warmupMs: 0})
        const before = cpuTicks(pid)
        const samples = await runWindow(clients.get(variant)!.send, {concurrency: CONCURRENCY, measureMs: windowMs, warmupMs: 0})
        const after = cpuTicks(pid)
        windows.get(variant)!.push({requests: samples.latencies.length, seconds: samples.seconds, ticks: before === undefined || after === undefined ? undefined : after - before})
      }

      process.stderr.write(`bench: metrics round ${round + 1}/${rounds} done\n`)
    }
  } finally {
    await Promise.all([...clients.values()].map((client) => client.close()))
    await Promise.all([...servers.values()].map((server) => server.stop()))
  }

  const pooled = (variant: Variant): MetricsVariantResult => {
    const list = windows.get(variant)!
    const requests = list.reduce((sum, w) => sum + w.requests, 0)
    const seconds = list.reduce((sum, w) => sum + w.seconds, 0)
    const ticked = list.every((w) => w.ticks !== undefined)
    const ticks = list.reduce((sum, w) => sum + (w.ticks ?? 0), 0)
    return {cpuUsPerRequest: ticked && requests > 0 ? (ticks * 10_000) / requests : undefined, requests, rps: requests / seconds, seconds}
  }

  const plainWindows = windows.get('plain')!
  const metricsWindows = windows.get('metrics')!
  const paired = plainWindows.map((plain, round) => ({metrics: metricsWindows[round]!, plain}))
  const rpsRatio = spread(paired.map(({metrics, plain}) => metrics.requests / metrics.seconds / (plain.requests / plain.seconds)))
  const cpuPaired = paired.every(({metrics, plain}) => metrics.ticks !== undefined && plain.ticks !== undefined && plain.ticks > 0 && metrics.requests > 0)
  const cpuRatio = cpuPaired ? spread(paired.map(({metrics, plain}) => (metrics.ticks! / metrics.requests) / (plain.ticks! / plain.requests))) : undefined
  const verdicts: Verdict[] = []
  const verdict = (name: string, ratio: RatioSpread, better: Verdict['better'], target: number, goal: number): void => {
    const ok = (limit: number): boolean => (better === 'higher' ? ratio.median >= limit : ratio.median <= limit)
    verdicts.push({better, goal, goalMet: ok(goal), name, pass: ok(target), target, value: ratio.median})
  }

  if (cpuRatio) verdict('korv+metrics CPU/request vs korv', cpuRatio, 'lower', TARGET_RATIO, GOAL_RATIO)
  verdict('korv+metrics throughput vs korv', rpsRatio, 'higher', 1 / TARGET_RATIO, 1 / GOAL_RATIO)
  return {concurrency: CONCURRENCY, cpuRatio, metrics: pooled('metrics'), plain: pooled('plain'), rounds, rpsRatio, verdicts, windowSeconds: windowMs / 1000}
}

export function printMetricsReport(result: MetricsBenchResult): void {
  const cpu = (value: number | undefined): string => (value === undefined ? 'n/a' : `${value.toFixed(1)} µs CPU/request`)
  const line = (name: string, r: MetricsVariantResult): string => `  ${name.padEnd(16)} ${Math.round(r.rps).toString().padStart(7)} req/s   ${cpu(r.cpuUsPerRequest)} (server)`
  const range = (r: RatioSpread): string => `median ${r.median.toFixed(3)}, quartiles ${r.q1.toFixed(3)}–${r.q3.toFixed(3)}, range ${r.min.toFixed(3)}–${r.max.toFixed(3)}`
  process.stdout.write(`\nkorv + metrics (c=${result.concurrency}, same run, ${result.rounds} alternating rounds of ${result.windowSeconds.toFixed(1)} s windows each)\n`)
  process.stdout.write(`${line('korv', result.plain)}\n${line('korv + metrics', result.metrics)}\n`)
  process.stdout.write('  ratio korv+metrics/korv per round:\n')
  process.stdout.write(`    server CPU per request  ${result.cpuRatio ? range(result.cpuRatio) : 'n/a (no /proc)'}\n`)
  process.stdout.write(`    throughput              ${range(result.rpsRatio)}\n`)
  printVerdicts(result.verdicts)
}
