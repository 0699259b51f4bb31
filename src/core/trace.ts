// What a client reports for `-v`: connection steps, what it sends and receives. The CLI renders it
// (`* `, `> `, `< ` like curl -v); core never prints, and reports nothing when no callback is given.
export type TraceKind = 'info' | 'send' | 'recv'
export type OnTrace = (kind: TraceKind, text: string) => void

/** Header names whose values are credentials: a trace shows them as `<masked>`. */
const SECRET_HEADER = /authorization|cookie|token|secret|password|api[-_]?key|signature|session/i

export function maskHeaderValue(name: string, value: string): string {
  return SECRET_HEADER.test(name) ? `<masked, ${Buffer.byteLength(value)} bytes>` : value
}

/** The size of a value once JSON-encoded, for traces that show bodies only as sizes. */
export function jsonByteLength(value: unknown): number {
  if (value === undefined) return 0
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '')
  } catch {
    return 0
  }
}

export const elapsedMs = (since: number): string => `${(performance.now() - since).toFixed(1)} ms`
