// Turns measurements into the printed table, the ratios, the target verdicts and the JSON summary.
import {withoutNote} from './children.js'
import type {ColdStartResult} from './cold-start.js'
import type {LoadResult} from './load.js'
import {pipeSummary, printPipeReport} from './pipe-report.js'
import type {PipeResult} from './pipe.js'
import {printTunnelReport, tunnelVerdicts} from './tunnel-report.js'
import type {TunnelResult} from './tunnel.js'

export const TRANSPORTS = ['raw-tcp', 'http', 'korv'] as const
export type Transport = (typeof TRANSPORTS)[number]

const LABELS: Record<Transport, string> = {
  http: 'node:http + undici (keep-alive)',
  korv: 'korv over ssh2 (1 channel)',
  'raw-tcp': 'raw TCP NDJSON (1 socket)',
}

export interface Measurements {
  load: Array<LoadResult & {transport: Transport}>
  cold?: ColdStartResult
  tunnel?: TunnelResult
  pipe?: PipeResult
  /** korv's c=1 echo, for the tunnel comparison (from the korv case, or run alongside the tunnel). */
  korvC1?: LoadResult
}

export interface Verdict {
  name: string
  value: number
  /** `value` must be ≥ (or ≤) this to PASS. */
  target: number
  goal: number
  better: 'higher' | 'lower'
  pass: boolean
  goalMet: boolean
}

type Ratios = Record<string, number>

const find = (m: Measurements, transport: Transport, concurrency: number): LoadResult | undefined =>
  m.load.find((r) => r.transport === transport && r.concurrency === concurrency)

export function computeRatios(m: Measurements, concurrencies: number[]): Ratios {
  const ratios: Ratios = {}
  for (const c of concurrencies) {
    const korv = find(m, 'korv', c)
    for (const base of ['http', 'raw-tcp'] as const) {
      const other = find(m, base, c)
      if (!korv || !other) continue
      ratios[`korv/${base} rps c=${c}`] = korv.rps / other.rps
      ratios[`korv/${base} p50 c=${c}`] = korv.p50Ms / other.p50Ms
    }
  }

  if (m.cold) {
    ratios['korv call / node -e 0'] = m.cold.korvCallMs / m.cold.nodeMs
    ratios['korv call / ssh -W'] = m.cold.korvCallMs / m.cold.sshMs
  }

  return ratios
}

export function computeVerdicts(ratios: Ratios): Verdict[] {
  const verdict = (name: string, key: string, better: Verdict['better'], target: number, goal: number): Verdict[] => {
    const value = ratios[key]
    if (value === undefined) return []
    const ok = (limit: number): boolean => (better === 'higher' ? value >= limit : value <= limit)
    return [{better, goal, goalMet: ok(goal), name, pass: ok(target), target, value}]
  }

  return [
    ...verdict('korv c=64 throughput vs HTTP', 'korv/http rps c=64', 'higher', 1.0, 4.0),
    ...verdict('korv p50 at c=1 vs HTTP', 'korv/http p50 c=1', 'lower', 1.2, 0.8),
    ...verdict('cold korv call vs node -e 0', 'korv call / node -e 0', 'lower', 2.5, 1.5),
    ...verdict('korv c=64 throughput vs raw TCP', 'korv/raw-tcp rps c=64', 'higher', 0.5, 0.7),
  ]
}

const fixed = (value: number, digits: number, width: number): string => value.toFixed(digits).padStart(width)

export function printReport(m: Measurements, ratios: Ratios, verdicts: Verdict[]): void {
  const out: string[] = ['', 'small-JSON echo, closed loop (req/s over the measured window; latency per request)', '']
  out.push(`${'transport'.padEnd(34)}${'conc'.padStart(5)}${'req/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`)
  for (const r of m.load) {
    out.push(`${LABELS[r.transport].padEnd(34)}${String(r.concurrency).padStart(5)}${fixed(r.rps, 0, 10)}${fixed(r.p50Ms, 3, 9)}${fixed(r.p99Ms, 3, 9)}`)
  }

  if (m.cold) {
    out.push('', `cold start, median of ${m.cold.runs} runs (spawn to exit)${withoutNote(m.cold.envRemoved)}`, '')
    out.push(`${'node -e 0'.padEnd(34)}${fixed(m.cold.nodeMs, 1, 9)} ms`)
    out.push(`${'restwire korv call GET /hello'.padEnd(34)}${fixed(m.cold.korvCallMs, 1, 9)} ms`)
    out.push(`${'ssh -W (OpenSSH), same call'.padEnd(34)}${fixed(m.cold.sshMs, 1, 9)} ms`)
  }

  out.push('', 'ratios', '')
  for (const [name, value] of Object.entries(ratios)) out.push(`${name.padEnd(34)}${fixed(value, 2, 9)}x`)
  out.push('', 'targets', '', ...verdicts.map(verdictLine))
  process.stdout.write(out.join('\n') + '\n')
  if (m.tunnel) printTunnelReport(m.tunnel, m.korvC1)
  if (m.pipe) printPipeReport(m.pipe)
}

/** `PASS  name   0.98x  (target ≥ 0.95x; goal met)`: one target's line. */
export function verdictLine(v: Verdict): string {
  const op = v.better === 'higher' ? '≥' : '≤'
  const goal = v.goalMet ? 'goal met' : `goal ${op} ${round2(v.goal)}x not met`
  return `${v.pass ? 'PASS' : 'MISS'}  ${v.name.padEnd(34)}${fixed(v.value, 2, 6)}x  (target ${op} ${round2(v.target)}x; ${goal})`
}

const round2 = (value: number): number => Math.round(value * 100) / 100

/** A case's own targets, after its section (as printReport prints the built-in ones). */
export function printVerdicts(verdicts: Verdict[]): void {
  if (verdicts.length > 0) process.stdout.write(['', '  targets', ...verdicts.map((v) => `  ${verdictLine(v)}`)].join('\n') + '\n')
}

export function summary(m: Measurements, ratios: Ratios, verdicts: Verdict[], settings: Record<string, unknown>): string {
  const round = (value: number): number => Math.round(value * 1000) / 1000
  return JSON.stringify({
    cold: m.cold && {envRemoved: m.cold.envRemoved, korvCallMs: round(m.cold.korvCallMs), nodeMs: round(m.cold.nodeMs), runs: m.cold.runs, sshMs: round(m.cold.sshMs)},
    load: m.load.map((r) => ({concurrency: r.concurrency, p50Ms: round(r.p50Ms), p99Ms: round(r.p99Ms), requests: r.requests, rps: Math.round(r.rps), transport: r.transport})),
    pipe: m.pipe && pipeSummary(m.pipe),
    ratios: Object.fromEntries(Object.entries(ratios).map(([key, value]) => [key, round(value)])),
    settings,
    targets: verdicts.map((v) => ({...v, value: round(v.value)})),
    tunnel: m.tunnel && {
      ...tunnelVerdicts(m.tunnel, m.korvC1),
      http: m.tunnel.http.map((r) => ({concurrency: r.concurrency, p50Ms: round(r.p50Ms), p99Ms: round(r.p99Ms), requests: r.requests, rps: Math.round(r.rps)})),
      httpNdjsonItemsPerSecond: m.tunnel.httpNdjson && Math.round(m.tunnel.httpNdjson.itemsPerSecond),
      library: m.tunnel.library.map((r) => ({concurrency: r.concurrency, p50Ms: round(r.p50Ms), p99Ms: round(r.p99Ms), requests: r.requests, rps: Math.round(r.rps)})),
      korvC1: m.korvC1 && {p50Ms: round(m.korvC1.p50Ms), rps: Math.round(m.korvC1.rps)},
      streamItemsPerSecond: Math.round(m.tunnel.stream.itemsPerSecond),
    },
  })
}
