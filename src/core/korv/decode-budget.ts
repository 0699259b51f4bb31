// What korv connections may hold partially decoded (a gzip member or an NDJSON line not yet complete):
// each connection has its own cap, and all connections share one server-wide budget. A connection can
// never take more than its cap, so one greedy client leaves most of the shared budget to the others.

/** Partially decoded bytes one connection may hold across all its channels. */
export const DEFAULT_MAX_PARTIAL_BYTES_PER_CONNECTION = 32 * 1024 * 1024
/** Partially decoded bytes all connections together may hold. */
export const DEFAULT_MAX_PARTIAL_BYTES_TOTAL = 256 * 1024 * 1024

/** `connection`: this connection holds too much (413); `server`: the shared budget is spent (503). */
export type BudgetRefusal = 'connection' | 'server'

export class DecodeBudget {
  held = 0
  constructor(readonly max: number) {}
}

/** One connection's share: charged by its channels after each chunk they decode (O(1)). */
export class ConnectionDecodeBudget {
  held = 0

  constructor(
    private readonly total: DecodeBudget,
    readonly max: number,
  ) {}

  /** Moves this connection's holding by `delta` bytes; returns why the new holding is refused, if it is. */
  charge(delta: number): BudgetRefusal | undefined {
    if (delta === 0) return undefined
    this.held += delta
    this.total.held += delta
    if (delta < 0) return undefined
    if (this.held > this.max) return 'connection'
    if (this.total.held > this.total.max) return 'server'
    return undefined
  }
}
