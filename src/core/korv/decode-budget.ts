// What korv connections may hold partially decoded (a gzip member or an NDJSON line not yet complete):
// each connection has its own cap, and all connections share one server-wide budget. When the shared
// budget runs out, the connection holding the most gives way (its largest channel is refused), so a
// greedy client cannot crowd out a modest one.

/** Partially decoded bytes one connection may hold across all its channels. */
export const DEFAULT_MAX_PARTIAL_BYTES_PER_CONNECTION = 32 * 1024 * 1024
/** Partially decoded bytes all connections together may hold. */
export const DEFAULT_MAX_PARTIAL_BYTES_TOTAL = 256 * 1024 * 1024

/** `connection`: this connection holds too much (413); `server`: the shared budget is spent (503). */
export type BudgetRefusal = 'connection' | 'server'

/** A channel holding partially decoded bytes. `evict` refuses it (503) and makes it release what it holds. */
export interface BudgetHolder {
  readonly charged: number
  evict(): void
}

export class DecodeBudget {
  held = 0
  /** The most `held` has been, for the metrics' high-water gauge. */
  highWater = 0
  readonly connections = new Set<ConnectionDecodeBudget>()
  constructor(readonly max: number) {}

  /**
   * Over budget: evicts the largest channel of the connection holding the most, until under budget or
   * until that connection is `charging` (then it is refused itself). Scans only when over budget.
   */
  rebalance(charging: ConnectionDecodeBudget): boolean {
    while (this.held > this.max) {
      let greediest = charging
      for (const connection of this.connections) if (connection.held > greediest.held) greediest = connection
      if (greediest === charging) return false
      const before = this.held
      greediest.evictLargest()
      if (this.held >= before) return false
    }

    return true
  }
}

/** One connection's share, charged by its channels after each chunk they decode (O(1) unless over budget). */
export class ConnectionDecodeBudget {
  held = 0
  private readonly holders = new Set<BudgetHolder>()

  constructor(
    private readonly total: DecodeBudget,
    readonly max: number,
  ) {}

  /** `holder` now holds `delta` bytes more (or fewer); returns why that is refused, if it is. */
  charge(holder: BudgetHolder, delta: number): BudgetRefusal | undefined {
    if (delta === 0) return undefined
    this.held += delta
    this.total.held += delta
    if (this.total.held > this.total.highWater) this.total.highWater = this.total.held
    if (this.held > 0) this.total.connections.add(this)
    else this.total.connections.delete(this)
    if (holder.charged + delta > 0) this.holders.add(holder)
    else this.holders.delete(holder)
    if (delta < 0) return undefined
    if (this.held > this.max) return 'connection'
    if (this.total.held > this.total.max && !this.total.rebalance(this)) return 'server'
    return undefined
  }

  evictLargest(): void {
    let largest: BudgetHolder | undefined
    for (const holder of this.holders) if (!largest || holder.charged > largest.charged) largest = holder
    largest?.evict()
  }
}
