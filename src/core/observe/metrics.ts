// What a server's /metrics says, aggregated in plain counters as its traffic records arrive (a map
// lookup and a few additions per record: the hot path never touches prom-client), and turned into
// Prometheus metrics only when scraped (prometheus.ts). Label values are bounded: routes are patterns,
// and past MAX_SERIES label sets new ones are counted under verb and route "other".
import type {ConnectionStats, TrafficLog, TrafficProtocol, TrafficRecord} from './traffic.js'

/** Upper bounds of the latency histogram, in seconds. */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Distinct label sets of the request counters; beyond it new ones fold into "other". */
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

/** A status as a bounded label: `2xx`..`5xx`; pipe codes `ok` (0) and `event_error`; `none` when no answer came. */
export function statusClass(record: Pick<TrafficRecord, 'protocol' | 'status' | 'error'>): string {
  const {status} = record
  if (status >= 100 && status <= 599) return `${Math.floor(status / 100)}xx`
  if (record.error !== undefined) return 'none'
  if (record.protocol === 'pipe') return status === 0 ? 'ok' : 'event_error'
  return 'none'
}

export class ServerMetrics {
  readonly protocol: TrafficProtocol
  readonly requests = new Map<string, RequestSeries>()
  readonly latency = new Map<string, LatencySeries>()
  bytesReceived = 0
  bytesSent = 0
  handlerErrors = 0
  timeouts = 0
  redials = 0
  readonly refused: Record<RefusalReason, number> = {auth: 0, cap: 0, grace: 0}
  /** For a node: connected to its gateway or hub now. */
  peerConnected: boolean | undefined
  private readonly options: ServerMetricsOptions

  constructor(options: ServerMetricsOptions) {
    this.options = options
    this.protocol = options.protocol
  }

  /** Counts every record `log` gets from now on; returns the unsubscribe function. */
  attach(log: TrafficLog): () => void {
    return log.subscribe((record) => this.count(record))
  }

  count(record: TrafficRecord): void {
    let verb = record.verb
    let route = record.route ?? OTHER
    const klass = statusClass(record)
    let key = `${record.protocol}\0${record.direction}\0${verb}\0${route}\0${klass}`
    let series = this.requests.get(key)
    if (!series) {
      if (this.requests.size >= MAX_SERIES) {
        verb = OTHER
        route = OTHER
        key = `${record.protocol}\0${record.direction}\0${verb}\0${route}\0${klass}`
        series = this.requests.get(key)
      }

      if (!series) {
        series = {count: 0, labels: {direction: record.direction, protocol: record.protocol, route, status_class: klass, verb}}
        this.requests.set(key, series)
      }
    }

    series.count++
    this.observeLatency(record, series.labels.verb, series.labels.route)
    const [received, sent] = record.direction === 'in' ? [record.request.bytes, record.response.bytes] : [record.response.bytes, record.request.bytes]
    this.bytesReceived += received
    this.bytesSent += sent
    if (record.direction === 'in' && (record.status === 500 || (record.protocol === 'pipe' && record.status === 251))) this.handlerErrors++
    if (record.status === 504 || record.error === 'RW_ERR_TIMEOUT') this.timeouts++
  }

  private observeLatency(record: TrafficRecord, verb: string, route: string): void {
    const key = `${record.protocol}\0${record.direction}\0${verb}\0${route}`
    let series = this.latency.get(key)
    if (!series) {
      series = {buckets: Array.from({length: LATENCY_BUCKETS_S.length + 1}, () => 0), count: 0, labels: {direction: record.direction, protocol: record.protocol, route, verb}, sum: 0}
      this.latency.set(key, series)
    }

    const seconds = record.latencyMs / 1000
    let index = 0
    while (index < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[index]!) index++
    series.buckets[index]!++
    series.sum += seconds
    series.count++
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
