// The inspector's CLI glue: checks the bind before any server starts (a non-loopback inspector without a
// token is a usage error), makes the TrafficLog the servers report into, and the start-up line.
import {formatHostPort} from '../core/address.js'
import {checkInspectorBind} from '../core/observe/inspector-guard.js'
import type {Inspector, InspectTarget, InspectorServerHandle} from '../core/observe/inspector.js'
import {TrafficLog} from '../core/observe/traffic.js'

/** Records the inspector keeps for its list (and for replay). */
const INSPECT_KEEP = 500

export interface InspectCliOptions {
  /** Where the inspector listens: the server's HTTP port, or its own; undefined: off. */
  address?: {host: string; port: number}
  token?: string
}

/** Refuses a bad inspector bind (RW_ERR_USAGE) before anything listens, and makes the log it reads. */
export function prepareInspector(options: InspectCliOptions, flag: string): TrafficLog | undefined {
  if (!options.address) return undefined
  checkInspectorBind(options.address.host, options.token, flag)
  return new TrafficLog({bodies: true, keep: INSPECT_KEEP})
}

/**
 * The one log a server reports into: the inspector's (it keeps bodies and the last records) when the
 * inspector is on, with the metrics counting from it too; else the metrics' own, if any.
 */
export function servedLog(inspectorLog: TrafficLog | undefined, observed: {traffic: TrafficLog; metrics: {attach(log: TrafficLog): unknown}} | undefined): TrafficLog | undefined {
  if (!inspectorLog) return observed?.traffic
  observed?.metrics.attach(inspectorLog)
  return inspectorLog
}

/** The inspector mounted on a server's own HTTP port (tunnel gateway, pipe hub). */
export async function mountInspector(options: InspectCliOptions, log: TrafficLog, target: InspectTarget): Promise<Inspector> {
  const {createInspector} = await import('../core/observe/inspector.js')
  return createInspector({bindHost: options.address!.host, log, target, token: options.token})
}

/** The inspector on a port of its own (korv serve, relay start). */
export async function startOwnInspector(options: InspectCliOptions, log: TrafficLog, target: InspectTarget): Promise<InspectorServerHandle> {
  const {startInspectorServer} = await import('../core/observe/inspector.js')
  return startInspectorServer({bindHost: options.address!.host, host: options.address!.host, log, port: options.address!.port, target, token: options.token})
}

/** `http://127.0.0.1:8080/`, with `#token=…` left for the user to add (the token is never printed). */
export function inspectorUrl(host: string, port: number, token: string | undefined): string {
  return `http://${formatHostPort(host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, port)}/${token ? '#token=…' : ''}`
}
