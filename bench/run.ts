// `npm run bench`: small-JSON echo over raw TCP, node:http + undici and korv over ssh2 at two
// concurrencies, then the cold start of `korv call`; prints the figures, ratios, target verdicts and a
// JSON summary (last line of stdout). Environment:
//   BENCH_SECONDS=3 (measured time per case, split over the rounds)   BENCH_ROUNDS=3
//   BENCH_WARMUP_SECONDS=1 (per case, before its first round)   BENCH_CONCURRENCY=1,64
//   BENCH_ECHO_CONCURRENCY=1,64,256 (the raw TCP / HTTP / korv echo cases)
//   BENCH_COLD_RUNS=20   BENCH_ONLY=raw-tcp,http,korv,cold,persist,tunnel,pipe,relay,relay-cli,openssh,scale,metrics,cluster (a subset)
//   BENCH_PIPE_BULK_MIB=256 (pipe: size of the bulk body, and of the raw TLS baseline's)
//   BENCH_STREAM_ITEMS=200000 BENCH_STREAM_SECONDS=5 (tunnel STREAM: items asked for, time limit)
//   BENCH_METRICS_SECONDS=32 BENCH_METRICS_ROUNDS=32 (korv + metrics: measured time, both servers, and its A/B rounds)
//   BENCH_PROF_DIR=dir (servers run with --cpu-prof, profiles written there: CPU.<date>.<pid>.<thread>...;
//   the main thread's is the biggest; profile the client with `node --cpu-prof --import tsx bench/run.ts`)
// Servers run in child processes, clients in this one: echo-cases.ts says why.
import {createRequire} from 'node:module'
import {availableParallelism, cpus, loadavg} from 'node:os'
import {makeKorvKeys} from '../test/helpers/korv-fixture.js'
import {cleanup, makeTempDir} from './children.js'
import {type ClusterResults, clusterRatios, printClusterReport, runClusterCases} from './cluster.js'
import {measureColdStart} from './cold-start.js'
import {runEchoCases} from './echo-cases.js'
import {measurePersistedCalls, printPersistReport} from './korv-persist.js'
import {type MetricsBenchResult, printMetricsReport, runMetricsCases} from './metrics.js'
import {runPipeCases} from './pipe.js'
import {type RelayBenchResult, runRelayCases} from './relay.js'
import {printRelayReport, relaySummary} from './relay-report.js'
import {type RelayCliResult, printRelayCliReport, relayCliSummary, runRelayCliCases} from './relay-cli.js'
import {runTunnelCases} from './tunnel.js'
import type {BenchCase} from './extra-cases.js'
import {opensshCase} from './openssh.js'
import {settleMachine} from './other-cpu.js'
import {scaleCase} from './scale.js'
import {type Measurements, TRANSPORTS, computeRatios, computeVerdicts, printReport, summary} from './report.js'

/** Cases that print their own section after the built-in ones (extra-cases.ts). */
const EXTRA_CASES: BenchCase[] = [
  opensshCase,
  scaleCase,
]

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`)
  return value
}

const settings = {
  coldRuns: Math.round(numberEnv('BENCH_COLD_RUNS', 20)),
  concurrency: (process.env.BENCH_CONCURRENCY ?? '1,64').split(',').map(Number),
  echoConcurrency: (process.env.BENCH_ECHO_CONCURRENCY ?? '1,64,256').split(',').map(Number),
  measureSeconds: numberEnv('BENCH_SECONDS', 3),
  metricsRounds: Math.round(numberEnv('BENCH_METRICS_ROUNDS', 32)),
  metricsSeconds: numberEnv('BENCH_METRICS_SECONDS', 32),
  only: new Set((process.env.BENCH_ONLY ?? [...TRANSPORTS, 'cold', 'tunnel', 'pipe', 'relay', 'relay-cli', 'metrics', 'cluster', ...EXTRA_CASES.map((c) => c.name)].join(',')).split(',')),
  pipeBulkBytes: Math.round(numberEnv('BENCH_PIPE_BULK_MIB', 256) * 2 ** 20),
  profDir: process.env.BENCH_PROF_DIR,
  rounds: Math.round(numberEnv('BENCH_ROUNDS', 3)),
  streamItems: Math.round(numberEnv('BENCH_STREAM_ITEMS', 200_000)),
  streamSeconds: numberEnv('BENCH_STREAM_SECONDS', 5),
  warmupSeconds: numberEnv('BENCH_WARMUP_SECONDS', 1),
}

/** What the korv case ran with: ssh2's native crypto binding and the cipher two ssh2 peers agree on (its first preference). */
function ssh2Setup(): {binding: boolean; cipher: string} {
  const require = createRequire(import.meta.url)
  const {bindingAvailable} = require('ssh2/lib/protocol/crypto.js') as {bindingAvailable: boolean}
  const {DEFAULT_CIPHER} = require('ssh2/lib/protocol/constants.js') as {DEFAULT_CIPHER: string[]}
  return {binding: bindingAvailable, cipher: DEFAULT_CIPHER[0] ?? 'unknown'}
}

/** Start-up runs are tens of ms each: wait for what the previous section left running to finish first. */
async function settleBeforeStartups(label: string): Promise<void> {
  const started = performance.now()
  const cpu = await settleMachine()
  const waited = Math.round(performance.now() - started)
  if (cpu && waited > 300) process.stderr.write(`bench: ${label}: waited ${waited} ms for the machine to settle (others ${cpu.others.toFixed(2)}, steal ${cpu.steal.toFixed(2)} of a core at the end)\n`)
}

/** Other processes competing for the cores skew every figure: say so next to them. */
function checkLoad(): number {
  const [oneMinute = 0] = loadavg()
  if (oneMinute > availableParallelism() / 2) {
    process.stderr.write(`bench: warning: load average ${oneMinute.toFixed(2)} before the run on ${availableParallelism()} cores: other processes compete for the CPU, figures will be noisy\n`)
  }

  return Math.round(oneMinute * 100) / 100
}

async function main(): Promise<void> {
  const loadBefore = checkLoad()
  const dir = makeTempDir('restwire-bench-')
  const keys = await makeKorvKeys(dir)
  const measurements: Measurements = {load: []}
  const transports = TRANSPORTS.filter((t) => settings.only.has(t))
  if (transports.length > 0) measurements.load = await runEchoCases({...settings, concurrency: settings.echoConcurrency, transports}, keys)

  if (settings.only.has('tunnel')) {
    // korv c=1 and `ssh -R` (the OpenSSH anchor, when that case runs) take turns with the tunnel's cases.
    measurements.tunnel = await runTunnelCases(settings, dir, {korv: keys, sshR: settings.only.has('openssh')})
    measurements.korvC1 = measurements.tunnel.korvC1
  }

  if (settings.only.has('pipe')) measurements.pipe = await runPipeCases({...settings, bulkBytes: settings.pipeBulkBytes}, dir)
  let relay: RelayBenchResult | undefined
  if (settings.only.has('relay')) relay = await runRelayCases(settings)
  const relayCli: RelayCliResult | undefined = settings.only.has('relay-cli') ? await runRelayCliCases(settings) : undefined
  const metrics: MetricsBenchResult | undefined = settings.only.has('metrics') ? await runMetricsCases(settings, keys) : undefined
  const cluster: ClusterResults | undefined = settings.only.has('cluster') ? await runClusterCases(settings, dir) : undefined

  if (settings.only.has('cold')) {
    await settleBeforeStartups('cold start')
    process.stderr.write(`bench: cold start, ${settings.coldRuns} runs each\n`)
    measurements.cold = await measureColdStart(settings.coldRuns)
  }

  const ratios = computeRatios(measurements, settings.echoConcurrency)
  const verdicts = computeVerdicts(ratios)
  printReport(measurements, ratios, verdicts)
  if (relay) printRelayReport(relay)
  if (metrics) printMetricsReport(metrics)
  if (relayCli) printRelayCliReport(relayCli)
  const extra: Record<string, unknown> = {}
  for (const benchCase of EXTRA_CASES.filter((c) => settings.only.has(c.name))) {
    const report = await benchCase.run({dir, keys, measurements, settings})
    if (report) {
      Object.assign(ratios, report.ratios)
      extra[benchCase.name] = report.summary
    }
  }

  if (settings.only.has('cold') || settings.only.has('persist')) {
    await settleBeforeStartups('korv call start-up')
    printPersistReport(await measurePersistedCalls(settings.coldRuns))
  }
  if (cluster) printClusterReport(cluster)
  const ssh2 = ssh2Setup()
  process.stdout.write(`\nkorv: ssh2 cipher ${ssh2.cipher}, native crypto binding ${ssh2.binding ? 'loaded' : 'MISSING'}\n`)
  const machine = {cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', loadAverageBefore: loadBefore, node: process.version}
  const {only, ...rest} = settings
  const json = summary(measurements, ratios, verdicts, {...rest, date: new Date().toISOString(), machine, only: [...only], ssh2})
  process.stdout.write(`\nsummary (JSON):\n${JSON.stringify({...(JSON.parse(json) as object), ...extra, ...(relay && {relay: relaySummary(relay)}), ...(relayCli && {relayCli: relayCliSummary(relayCli)}), ...(metrics && {metrics}), ...(cluster && {cluster: {pipe: {...cluster.pipe, ratios: clusterRatios(cluster.pipe)}, tunnel: {...cluster.tunnel, ratios: clusterRatios(cluster.tunnel)}}})})}\n`)
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
