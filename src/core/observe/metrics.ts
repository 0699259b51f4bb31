// What a server's /metrics says, aggregated in plain counters as its traffic is reported (records, or
// tallies of fields when no one reads records: a cached series and a few additions per request, no
// allocation; the hot path never touches prom-client), and turned into
// Prometheus metrics only when scraped (prometheus.ts). Label values are bounded: routes are patterns,
// and past MAX_SERIES (route, verb) pairs new ones are counted under verb and route "other".
import type {ConnectionStats, TrafficCounter, TrafficLog, TrafficProtocol, TrafficRecord} from './traffic.js'

/** Upper bounds of the latency histogram, in seconds. */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Distinct (route, verb) pairs counted; beyond it new ones fold into ("other", "other"). */
export const MAX_SERIES = 1000
/** The route label of a request whose route this process does not know (a node's path, no route matched). */
export const OTHER = 'other'

export type RefusalReason = 'auth' | 'grace' | 'cap'

export interface RequestSeries {
  labels: {protocol: TrafficProtocol; direction: 'in' | 'out'; verb: string; route: string; status_class: string}
  count: number
}

export interface LatencySeries {
  labels: {protocol: TrafficProtocol; direction: 'in' | 'out'; verb: string; route: string}
  /** Counts per bucket of LATENCY_BUCKETS_S (not cumulative), then the overflow. */
  buckets: number[]
  sum: number
  count: number
}

/** A cluster member's view, as the cluster registry reports it. */
export interface ClusterView {
  state: 'connected' | 'degraded'
  hubs: number
  remoteNodes: number
}

export interface ServerMetricsOptions {
  protocol: TrafficProtocol
  /** The server's connections now (read at scrape time). */
  connections?: () => ConnectionStats
  /** The cluster view of a hub or gateway in a cluster (read at scrape time). */
  cluster?: () => ClusterView | undefined
  /** Refusals a server counts itself rather than reports one by one (the relay's cap), read at scrape time. */
  refusedCounted?: () => Partial<Record<RefusalReason, number>>
}

const CLASS_NAMES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx', 'ok', 'event_error'] as const

/** statusClass() as an index into CLASS_NAMES: no string is built per request. */
function statusClassIndex(protocol: TrafficProtocol, status: number, error: string | undefined): number {
  // A pipe status is the event's return code (0 ok, 251 handler failed, any the handler chose), not HTTP.
  if (error === undefined && protocol === 'pipe') return status === 0 ? 6 : 7
  return status >= 100 && status <= 599 ? Math.floor(status / 100) : 0
}

/** A status as a bounded label: `2xx`..`5xx`; pipe codes `ok` (0) and `event_error`; `none` when no answer came. */
export function statusClass(record: Pick<TrafficRecord, 'protocol' | 'status' | 'error'>): string {
  return CLASS_NAMES[statusClassIndex(record.protocol, record.status, record.error)]!
}

/**
 * The series of one (route, verb), resolved once: by direction, the latency histogram, and the counts
 * by status class, each made (labels and all) the first time it is counted. Per request a count is
 * then a few array reads and additions.
 */
interface Cell {
  route: string
  verb: string
  latency: Array<LatencySeries | undefined>
  requests: Array<RequestSeries | undefined>
}

export class ServerMetrics implements TrafficCounter {
  readonly protocol: TrafficProtocol
  readonly requests: RequestSeries[] = []
  readonly latency: LatencySeries[] = []
  bytesReceived = 0
  bytesSent = 0
  handlerErrors = 0
  timeouts = 0
  redials = 0
  readonly refused: Record<RefusalReason, number> = {auth: 0, cap: 0, grace: 0}
  /** For a node: connected to its gateway or hub now. */
  peerConnected: boolean | undefined
  private readonly options: ServerMetricsOptions
  /** route → verb → cell: two lookups of strings the router and parser made, no key built per record. */
  private readonly cells = new Map<string, Map<string, Cell>>()
  private cellCount = 0
  /** The cell counted last: a server's requests mostly repeat one (route, verb), found by two string compares. */
  private last: Cell | undefined

  constructor(options: ServerMetricsOptions) {
    this.options = options
    this.protocol = options.protocol
  }

  /** Counts every request `log` reports from now on (records and tallies); returns the function that stops it. */
  attach(log: TrafficLog): () => void {
    return log.addCounter(this)
  }

  count(record: TrafficRecord): void {
    this.tally(record.protocol, record.direction, record.verb, record.route, record.status, record.error, record.latencyMs, record.request.bytes, record.response.bytes)
  }

  /** One finished request, from its fields: nothing is allocated once its series exist. */
  tally(protocol: TrafficProtocol, direction: 'in' | 'out', verb: string, route: string | undefined, status: number, error: string | undefined, latencyMs: number, requestBytes: number, responseBytes: number): void {
    const routed = route ?? OTHER
    const last = this.last
    const cell = last !== undefined && last.route === routed && last.verb === verb ? last : (this.last = this.cell(routed, verb))
    const side = direction === 'in' ? 0 : 1
    const klass = statusClassIndex(protocol, status, error)
    const slot = side * CLASS_NAMES.length + klass
    const series = cell.requests[slot] ?? this.requestSeries(cell, slot, protocol, direction, klass)
    series.count++
    const latency = cell.latency[side] ?? this.latencySeries(cell, side, protocol, direction)
    const seconds = latencyMs / 1000
    let index = 0
    while (index < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[index]!) index++
    latency.buckets[index]!++
    latency.sum += seconds
    latency.count++
    if (side === 0) {
      this.bytesReceived += requestBytes
      this.bytesSent += responseBytes
      if (status === 500 || (protocol === 'pipe' && status === 251)) this.handlerErrors++
    } else {
      this.bytesReceived += responseBytes
      this.bytesSent += requestBytes
    }

    if (status === 504 || error === 'RW_ERR_TIMEOUT') this.timeouts++
  }

  private requestSeries(cell: Cell, slot: number, protocol: TrafficProtocol, direction: 'in' | 'out', klass: number): RequestSeries {
    const series: RequestSeries = {count: 0, labels: {direction, protocol, route: cell.route, status_class: CLASS_NAMES[klass]!, verb: cell.verb}}
    cell.requests[slot] = series
    this.requests.push(series)
    return series
  }

  private latencySeries(cell: Cell, side: number, protocol: TrafficProtocol, direction: 'in' | 'out'): LatencySeries {
    const series: LatencySeries = {buckets: Array.from({length: LATENCY_BUCKETS_S.length + 1}, () => 0), count: 0, labels: {direction, protocol, route: cell.route, verb: cell.verb}, sum: 0}
    cell.latency[side] = series
    this.latency.push(series)
    return series
  }

  /** The cell of (route, verb); past MAX_SERIES cells, new pairs share the ("other", "other") cell. */
  private cell(route: string, verb: string): Cell {
    let verbs = this.cells.get(route)
    let cell = verbs?.get(verb)
    if (cell) return cell
    if (this.cellCount >= MAX_SERIES) {
      route = OTHER
      verb = OTHER
      verbs = this.cells.get(route)
      cell = verbs?.get(verb)
      if (cell) return cell
    }

    if (!verbs) {
      verbs = new Map()
      this.cells.set(route, verbs)
    }

    cell = {latency: [], requests: [], route, verb}
    verbs.set(verb, cell)
    this.cellCount++
    return cell
  }

  refusedConnection(reason: RefusalReason): void {
    this.refused[reason]++
  }

  redialed(): void {
    this.redials++
  }

  /** A node's link to its gateway or hub came up or went down (readiness and restwire_peers_connected). */
  setPeerConnected(connected: boolean): void {
    this.peerConnected = connected
  }

  /** Every refusal so far, by reason: those reported plus those the server counted itself. */
  refusals(): Record<RefusalReason, number> {
    const counted = this.options.refusedCounted?.() ?? {}
    return {auth: this.refused.auth + (counted.auth ?? 0), cap: this.refused.cap + (counted.cap ?? 0), grace: this.refused.grace + (counted.grace ?? 0)}
  }

  connections(): ConnectionStats | undefined {
    return this.options.connections?.()
  }

  cluster(): ClusterView | undefined {
    return this.options.cluster?.()
  }
}
