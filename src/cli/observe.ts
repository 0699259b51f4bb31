// What the server commands share for metrics and health: the traffic log a server reports into, the
// metrics counting from it, and `--metrics HOST:PORT` (a port of its own for /metrics, /healthz and
// /readyz) where the server has no HTTP port to put them on. See docs/metrics.md.
import {type TcpAddress, formatHostPort} from '../core/address.js'
import {type ObserveEndpoints, type ObserveServerHandle, startObserveServer} from '../core/observe/http.js'
import {type ServerMetricsOptions, ServerMetrics} from '../core/observe/metrics.js'
import {TrafficLog} from '../core/observe/traffic.js'
import {stderrColors as c} from './output.js'
import type {LogFormat} from './request-log.js'


export interface ServerObservation {
  traffic: TrafficLog
  metrics: ServerMetrics
}

/** A traffic log kept only for counting (one record), with the metrics attached. */
export function observeTraffic(options: ServerMetricsOptions): ServerObservation {
  const traffic = new TrafficLog({bodies: false, keep: 1})
  const metrics = new ServerMetrics(options)
  metrics.attach(traffic)
  return {metrics, traffic}
}

/** Starts the `--metrics` port when one was given, and says where on stderr. */
export async function startMetricsPort(address: TcpAddress | undefined, endpoints: ObserveEndpoints, logFormat: LogFormat): Promise<ObserveServerHandle | undefined> {
  if (!address) return undefined
  const handle = await startObserveServer(endpoints, address.host, address.port)
  const url = `http://${formatHostPort(handle.address.address, handle.address.port)}`
  if (logFormat === 'json') process.stderr.write(JSON.stringify({time: new Date().toISOString(), event: 'metrics listening', metrics: `${url}/metrics`}) + '\n')
  else process.stderr.write(c.dim(`metrics on ${url}/metrics, health on ${url}/healthz and ${url}/readyz\n`))
  return handle
}
