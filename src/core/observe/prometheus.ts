// ServerMetrics as the Prometheus text format, through prom-client: loaded on the first scrape only (a
// process without metrics, and every client command, never reads it). The counters are kept by
// metrics.ts; here they become prom-client metric objects whose values are read at scrape time.
import type * as PromClient from 'prom-client'
import {LATENCY_BUCKETS_S, type ServerMetrics} from './metrics.js'

interface Sample {
  labels?: Record<string, string | number>
  value: number
  metricName?: string
}

type Type = 'counter' | 'gauge' | 'histogram'

/** A metric prom-client's registry renders: its values are made by `values()` on each scrape. */
function metric(name: string, help: string, type: Type, values: () => Sample[]): PromClient.Metric {
  return {get: async () => ({aggregator: 'sum', help, name, type, values: values()}), name} as unknown as PromClient.Metric
}

const registries = new WeakMap<ServerMetrics, PromClient.Registry>()

/** The metrics of `metrics` as Prometheus text, with its content type. */
export async function renderPrometheus(metrics: ServerMetrics): Promise<{contentType: string; text: string}> {
  let registry = registries.get(metrics)
  if (!registry) {
    const prom = await import('prom-client')
    registry = new prom.Registry()
    prom.collectDefaultMetrics({register: registry})
    for (const each of restwireMetrics(metrics)) registry.registerMetric(each)
    registries.set(metrics, registry)
  }

  return {contentType: registry.contentType, text: await registry.metrics()}
}

function restwireMetrics(m: ServerMetrics): PromClient.Metric[] {
  const protocol = m.protocol
  const stats = (): ReturnType<ServerMetrics['connections']> => m.connections()
  return [
    metric('restwire_requests_total', 'Requests and events finished, by protocol, direction (in: answered here; out: sent to a peer), verb, route pattern and status class.', 'counter', () =>
      m.requests.map(({count, labels}) => ({labels, value: count})),
    ),
    metric('restwire_request_duration_seconds', 'Time from a request\'s arrival (or sending) to its answer.', 'histogram', () =>
      m.latency.flatMap(({buckets, count, labels, sum}) => {
        let cumulative = 0
        const samples: Sample[] = LATENCY_BUCKETS_S.map((le, index) => {
          cumulative += buckets[index]!
          return {labels: {...labels, le}, metricName: 'restwire_request_duration_seconds_bucket', value: cumulative}
        })
        samples.push({labels: {...labels, le: '+Inf'}, metricName: 'restwire_request_duration_seconds_bucket', value: count})
        samples.push({labels, metricName: 'restwire_request_duration_seconds_sum', value: sum}, {labels, metricName: 'restwire_request_duration_seconds_count', value: count})
        return samples
      }),
    ),
    metric('restwire_bytes_received_total', 'Body bytes received: request bodies answered here, answers to requests sent.', 'counter', () => [{labels: {protocol}, value: m.bytesReceived}]),
    metric('restwire_bytes_sent_total', 'Body bytes sent: answers given here, bodies of requests sent.', 'counter', () => [{labels: {protocol}, value: m.bytesSent}]),
    metric('restwire_handler_errors_total', 'Requests whose handler failed (500; pipe return code 251).', 'counter', () => [{labels: {protocol}, value: m.handlerErrors}]),
    metric('restwire_timeouts_total', 'Requests that timed out (504, or no answer in time).', 'counter', () => [{labels: {protocol}, value: m.timeouts}]),
    metric('restwire_connections_refused_total', 'Connections refused: auth (key or certificate refused), grace (not authenticated in time), cap (too many at once).', 'counter', () =>
      Object.entries(m.refusals()).map(([reason, value]) => ({labels: {protocol, reason}, value})),
    ),
    metric('restwire_connections_open', 'Connections open now, authenticated or not.', 'gauge', () => gauge(stats()?.open, protocol)),
      metric('restwire_connections_authenticating', 'Connections accepted and not yet authenticated.', 'gauge', () => gauge(stats()?.authenticating, protocol)),
      metric('restwire_in_flight', 'Requests or events running now.', 'gauge', () => gauge(stats()?.inFlight, protocol)),
      metric('restwire_peers_connected', 'Peers connected: nodes on a gateway or hub; 1 or 0 on a node.', 'gauge', () =>
        gauge(m.peerConnected === undefined ? stats()?.peers : Number(m.peerConnected), protocol),
      ),
      metric('restwire_redials_total', 'Redials of a node after its connection failed or ended.', 'counter', () => [{labels: {protocol}, value: m.redials}]),
      metric('restwire_cluster_connected', '1 while this cluster member reaches NATS, 0 while degraded.', 'gauge', () => clusterGauge(m, (view) => Number(view.state === 'connected'))),
      metric('restwire_cluster_hubs', 'Members of the cluster this one sees, itself included.', 'gauge', () => clusterGauge(m, (view) => view.hubs)),
      metric('restwire_cluster_remote_nodes', 'Nodes connected to other members of the cluster.', 'gauge', () => clusterGauge(m, (view) => view.remoteNodes)),
  ]
}

function gauge(value: number | undefined, protocol: string): Sample[] {
  return value === undefined ? [] : [{labels: {protocol}, value}]
}

function clusterGauge(m: ServerMetrics, pick: (view: NonNullable<ReturnType<ServerMetrics['cluster']>>) => number): Sample[] {
  const view = m.cluster()
  return view ? [{labels: {protocol: m.protocol}, value: pick(view)}] : []
}
