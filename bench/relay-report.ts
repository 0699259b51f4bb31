// The relay section of the report: relay vs direct undici at each concurrency, and the two targets of
// issue 5 (relay throughput ≥ 0.8x direct undici; added p50 at c=1 < 1 ms). The throughput target is
// judged where requests overlap (c > 1): at c=1 req/s is only 1/latency, so the c=1 ratio restates the
// added latency (an extra process hop) and is printed for information.
import type {LoadResult} from './load.js'
import type {RelayBenchResult} from './relay.js'

export const RELAY_THROUGHPUT_TARGET = 0.8
export const RELAY_ADDED_P50_TARGET_MS = 1

export interface RelayVerdict {
  name: string
  value: number
  unit: 'x' | 'ms'
  target: number
  better: 'higher' | 'lower'
  pass: boolean
}

export function relayVerdicts(result: RelayBenchResult): RelayVerdict[] {
  const verdicts: RelayVerdict[] = []
  for (const relay of result.relay) {
    const direct = result.direct.find((d) => d.concurrency === relay.concurrency)
    if (!direct) continue
    const ratio = relay.rps / direct.rps
    if (relay.concurrency > 1) {
      verdicts.push({better: 'higher', name: `relay/direct req/s c=${relay.concurrency}`, pass: ratio >= RELAY_THROUGHPUT_TARGET, target: RELAY_THROUGHPUT_TARGET, unit: 'x', value: ratio})
    } else {
      const added = relay.p50Ms - direct.p50Ms
      verdicts.push({better: 'lower', name: 'relay added p50 c=1', pass: added < RELAY_ADDED_P50_TARGET_MS, target: RELAY_ADDED_P50_TARGET_MS, unit: 'ms', value: added})
    }
  }

  return verdicts
}

const fixed = (value: number, digits: number, width: number): string => value.toFixed(digits).padStart(width)
const row = (label: string, r: LoadResult): string => `${label.padEnd(34)}${String(r.concurrency).padStart(5)}${fixed(r.rps, 0, 10)}${fixed(r.p50Ms, 3, 9)}${fixed(r.p99Ms, 3, 9)}`

export function printRelayReport(result: RelayBenchResult): void {
  const out: string[] = ['', 'relay: small-JSON echo, POST /echo on a local node:http server', '']
  out.push(`${'case'.padEnd(34)}${'conc'.padStart(5)}${'req/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`)
  for (const direct of result.direct) {
    out.push(row('direct undici Pool', direct))
    const relay = result.relay.find((r) => r.concurrency === direct.concurrency)
    if (relay) out.push(row('through the relay (1 socket)', relay))
  }

  out.push('')
  for (const relay of result.relay) {
    const direct = result.direct.find((d) => d.concurrency === relay.concurrency)
    if (direct) out.push(`${`relay/direct req/s c=${relay.concurrency}`.padEnd(34)}${fixed(relay.rps / direct.rps, 2, 9)}x${relay.concurrency === 1 ? '  (info: at c=1 this is 1/latency)' : ''}`)
  }

  out.push('', 'relay targets', '')
  for (const v of relayVerdicts(result)) {
    const op = v.better === 'higher' ? '≥' : '<'
    const value = v.unit === 'x' ? `${v.value.toFixed(2)}x` : `${v.value.toFixed(3)} ms`
    out.push(`${v.pass ? 'PASS' : 'MISS'}  ${v.name.padEnd(34)}${value.padStart(10)}  (target ${op} ${v.target}${v.unit === 'x' ? 'x' : ' ms'})`)
  }

  process.stdout.write(out.join('\n') + '\n')
}

export function relaySummary(result: RelayBenchResult): Record<string, unknown> {
  const round = (value: number): number => Math.round(value * 1000) / 1000
  const figures = (r: LoadResult): Record<string, number> => ({concurrency: r.concurrency, p50Ms: round(r.p50Ms), p99Ms: round(r.p99Ms), requests: r.requests, rps: Math.round(r.rps)})
  return {direct: result.direct.map(figures), relay: result.relay.map(figures), targets: relayVerdicts(result).map((v) => ({...v, value: round(v.value)}))}
}
