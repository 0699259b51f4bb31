// The tunnel section of the report: figures and the targets: the library path (gateway.request()) p50 at
// c=1 ≤ 1.5x korv's (issue 15 moved this target from the HTTP API to the library); the HTTP API's
// throughput ≥ 0.5x the library's at the highest concurrency (issue 15); a STREAM carries ≥ 50,000 small
// items/s (issue #3). The HTTP API's own latency is judged against OpenSSH `ssh -R` elsewhere.
import type {LoadResult} from './load.js'
import type {TunnelResult} from './tunnel.js'

export interface TunnelVerdict {
  name: string
  value: number
  unit: string
  target: number
  better: 'higher' | 'lower'
  pass: boolean
}

export const TUNNEL_P50_TARGET = 1.5
export const HTTP_LIBRARY_TARGET = 0.5
export const STREAM_ITEMS_TARGET = 50_000

export function tunnelVerdicts(tunnel: TunnelResult, korvC1: LoadResult | undefined): {ratio?: number; verdicts: TunnelVerdict[]} {
  const verdicts: TunnelVerdict[] = []
  const libraryC1 = tunnel.library.find((r) => r.concurrency === 1)
  let ratio: number | undefined
  if (libraryC1 && korvC1) {
    ratio = libraryC1.p50Ms / korvC1.p50Ms
    verdicts.push({better: 'lower', name: 'tunnel library p50 at c=1 vs korv', pass: ratio <= TUNNEL_P50_TARGET, target: TUNNEL_P50_TARGET, unit: 'x', value: ratio})
  }

  const top = Math.max(...tunnel.http.map((r) => r.concurrency))
  const httpTop = tunnel.http.find((r) => r.concurrency === top)
  const libraryTop = tunnel.library.find((r) => r.concurrency === top)
  if (top > 1 && httpTop && libraryTop) {
    const value = httpTop.rps / libraryTop.rps
    verdicts.push({better: 'higher', name: `tunnel HTTP API / library req/s c=${top}`, pass: value >= HTTP_LIBRARY_TARGET, target: HTTP_LIBRARY_TARGET, unit: 'x', value})
  }

  const {itemsPerSecond} = tunnel.stream
  verdicts.push({better: 'higher', name: 'STREAM items/s (gateway.stream())', pass: itemsPerSecond >= STREAM_ITEMS_TARGET, target: STREAM_ITEMS_TARGET, unit: '/s', value: itemsPerSecond})
  return {ratio, verdicts}
}

const fixed = (value: number, digits: number, width: number): string => value.toFixed(digits).padStart(width)

export function printTunnelReport(tunnel: TunnelResult, korvC1: LoadResult | undefined): void {
  const out: string[] = ['', 'tunnel: small-JSON echo through the gateway HTTP API (undici → HTTP API → gateway → SSH → node POST /echo)', '']
  out.push(`${'case'.padEnd(34)}${'conc'.padStart(5)}${'req/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`)
  for (const r of tunnel.http) out.push(`${'tunnel via HTTP API'.padEnd(34)}${String(r.concurrency).padStart(5)}${fixed(r.rps, 0, 10)}${fixed(r.p50Ms, 3, 9)}${fixed(r.p99Ms, 3, 9)}`)
  for (const lib of tunnel.library) out.push(`${'gateway.request() (library)'.padEnd(34)}${String(lib.concurrency).padStart(5)}${fixed(lib.rps, 0, 10)}${fixed(lib.p50Ms, 3, 9)}${fixed(lib.p99Ms, 3, 9)}`)
  if (korvC1) out.push(`${'korv over ssh2 (same rounds)'.padEnd(34)}${'1'.padStart(5)}${fixed(korvC1.rps, 0, 10)}${fixed(korvC1.p50Ms, 3, 9)}${fixed(korvC1.p99Ms, 3, 9)}`)
  out.push('', 'tunnel: STREAM of {"i": n} items over one tunnel', '')
  const streamLine = (label: string, s: {items: number; seconds: number; itemsPerSecond: number}): string =>
    `${label.padEnd(34)}${fixed(s.itemsPerSecond, 0, 10)} items/s  (${s.items} items in ${s.seconds.toFixed(2)} s)`
  out.push(streamLine('gateway.stream() (library)', tunnel.stream))
  if (tunnel.httpNdjson) out.push(streamLine('HTTP API, NDJSON (print only)', tunnel.httpNdjson))
  const {ratio, verdicts} = tunnelVerdicts(tunnel, korvC1)
  if (ratio !== undefined) out.push('', `${'tunnel library/korv p50 c=1'.padEnd(34)}${fixed(ratio, 2, 9)}x`)
  for (const r of tunnel.http) {
    const lib = tunnel.library.find((l) => l.concurrency === r.concurrency)
    if (lib) out.push(`${`HTTP API/library req/s c=${r.concurrency}`.padEnd(34)}${fixed(r.rps / lib.rps, 2, 9)}x`)
  }
  out.push('', 'tunnel targets', '')
  for (const v of verdicts) {
    const op = v.better === 'higher' ? '≥' : '≤'
    const value = v.unit === 'x' ? `${v.value.toFixed(2)}x` : `${Math.round(v.value)}/s`
    out.push(`${v.pass ? 'PASS' : 'MISS'}  ${v.name.padEnd(38)}${value.padStart(10)}  (target ${op} ${v.target}${v.unit})`)
  }

  process.stdout.write(out.join('\n') + '\n')
}
