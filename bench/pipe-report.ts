// The pipe section of the report: small events both ways next to raw TLS NDJSON, bulk next to a raw TLS
// socket, reconnect time, and the targets of issue #4 (small events ≥ 0.5x raw TLS, bulk ≥ 0.8x raw TLS,
// reconnect ≤ 2 s after the hub is back).
import type {LoadResult} from './load.js'
import type {PipeResult} from './pipe.js'

export const SMALL_TARGET = 0.5
export const BULK_TARGET = 0.8
export const RECONNECT_TARGET_MS = 2000

export interface PipeVerdict {
  name: string
  value: number
  target: number
  unit: string
  better: 'higher' | 'lower'
  pass: boolean
}

export function pipeVerdicts(pipe: PipeResult): PipeVerdict[] {
  const verdicts: PipeVerdict[] = []
  for (const [label, results] of [['hub→node', pipe.hubToNode], ['node→hub', pipe.nodeToHub]] as const) {
    for (const r of results) {
      const raw = pipe.rawTls.find((b) => b.concurrency === r.concurrency)
      if (!raw) continue
      const ratio = r.rps / raw.rps
      verdicts.push({better: 'higher', name: `${label} events/s c=${r.concurrency} vs raw TLS`, pass: ratio >= SMALL_TARGET, target: SMALL_TARGET, unit: 'x', value: ratio})
    }
  }

  const bulk = pipe.bulk.mbPerSecond / pipe.rawBulk.mbPerSecond
  verdicts.push({better: 'higher', name: 'bulk MB/s vs raw TLS', pass: bulk >= BULK_TARGET, target: BULK_TARGET, unit: 'x', value: bulk})
  verdicts.push({better: 'lower', name: 'hub restart → first event', pass: pipe.reconnectMs <= RECONNECT_TARGET_MS, target: RECONNECT_TARGET_MS, unit: 'ms', value: pipe.reconnectMs})
  return verdicts
}

const fixed = (value: number, digits: number, width: number): string => value.toFixed(digits).padStart(width)

export function printPipeReport(pipe: PipeResult): void {
  const out: string[] = ['', 'pipe: small events (POST echo, JSON {"n","msg"}) over one mutual-TLS connection, library calls', '']
  out.push(`${'case'.padEnd(30)}${'conc'.padStart(5)}${'events/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`)
  const row = (label: string, r: LoadResult): string => `${label.padEnd(30)}${String(r.concurrency).padStart(5)}${fixed(r.rps, 0, 10)}${fixed(r.p50Ms, 3, 9)}${fixed(r.p99Ms, 3, 9)}`
  for (const r of pipe.hubToNode) out.push(row('pipe hub → node', r))
  for (const r of pipe.nodeToHub) out.push(row('pipe node → hub', r))
  for (const r of pipe.rawTls) out.push(row('raw TLS NDJSON echo', r))
  out.push('', 'pipe: bulk body (GET bulk//N, streamed)', '')
  const bulkRow = (label: string, b: {bytes: number; seconds: number; mbPerSecond: number}): string =>
    `${label.padEnd(30)}${fixed(b.mbPerSecond, 0, 10)} MB/s  (${(b.bytes / 2 ** 20).toFixed(0)} MiB in ${b.seconds.toFixed(2)} s)`
  out.push(bulkRow('pipe node → hub reply body', pipe.bulk), bulkRow('raw TLS socket', pipe.rawBulk))
  out.push('', `${'hub restart → first event'.padEnd(30)}${fixed(pipe.reconnectMs, 0, 10)} ms`, '', 'pipe targets', '')
  for (const v of pipeVerdicts(pipe)) {
    const op = v.better === 'higher' ? '≥' : '≤'
    const value = v.unit === 'x' ? `${v.value.toFixed(2)}x` : `${Math.round(v.value)} ms`
    out.push(`${v.pass ? 'PASS' : 'MISS'}  ${v.name.padEnd(40)}${value.padStart(10)}  (target ${op} ${v.target}${v.unit === 'x' ? 'x' : ' ms'})`)
  }

  process.stdout.write(out.join('\n') + '\n')
}

export function pipeSummary(pipe: PipeResult): Record<string, unknown> {
  const round = (value: number): number => Math.round(value * 1000) / 1000
  const load = (results: LoadResult[]) => results.map((r) => ({concurrency: r.concurrency, p50Ms: round(r.p50Ms), p99Ms: round(r.p99Ms), rps: Math.round(r.rps)}))
  return {
    bulkMBps: Math.round(pipe.bulk.mbPerSecond),
    hubToNode: load(pipe.hubToNode),
    nodeToHub: load(pipe.nodeToHub),
    rawBulkMBps: Math.round(pipe.rawBulk.mbPerSecond),
    rawTls: load(pipe.rawTls),
    reconnectMs: Math.round(pipe.reconnectMs),
    verdicts: pipeVerdicts(pipe).map((v) => ({name: v.name, pass: v.pass, target: v.target, value: round(v.value)})),
  }
}
