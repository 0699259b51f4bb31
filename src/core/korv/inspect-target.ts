// What the inspector asks of korv serve: a replay that runs the request through the service's handler
// (the router, or the --upstream handler) under the same timeout and rules as a real channel, and is
// recorded in the log like one (peer "inspector replay"); its peers are the server's SSH connections.
import {LazyAbort, invokeHandler} from '../message/invoke.js'
import {type RequestHandler, type RwRequest, splitResource} from '../message/request.js'
import {jsonBytes} from '../observe/record.js'
import type {InspectTarget, ReplayEdit, ReplayOutcome} from '../observe/inspector.js'
import {clientPeers} from '../observe/traffic-view.js'
import type {ConnectedClients, TrafficLog, TrafficRecord} from '../observe/traffic.js'
import {jsonValue, parseEdited} from '../tunnel/inspect-target.js'
import {canonicalVerb} from './messages.js'

export interface KorvInspectOptions {
  handler: RequestHandler
  log: TrafficLog
  /** The server's authenticated connections (KorvServerHandle.clients). */
  clients?: (limit: number) => ConnectedClients
  handlerTimeoutMs?: number
  tracebacks?: boolean
}

export function korvInspectTarget(options: KorvInspectOptions): InspectTarget {
  return {
    name: 'korv serve',
    ...(options.clients ? clientPeers(options.clients) : {peers: () => []}),
    protocol: 'korv',
    async replay(record: TrafficRecord, edit: ReplayEdit): Promise<ReplayOutcome> {
      const verb = canonicalVerb(record.verb) ?? record.verb
      const body = edit.body === undefined ? jsonValue(record.request.value) : parseEdited(edit.body)
      // The channel keeps a resource with a query in params.resource (the record's path has none).
      const kept = (record.params as {resource?: unknown} | undefined)?.resource
      const resource = typeof kept === 'string' ? kept : record.path
      const {path, query} = splitResource(resource)
      const abort = new LazyAbort()
      const request: RwRequest = {body: body ?? null, client: {address: 'inspector replay'}, params: {}, path, query, resource, get signal() {
        return abort.signal
      }, verb}
      const at = Date.now()
      const started = performance.now()
      const response = await invokeHandler(options.handler, request, abort, {timeoutMs: options.handlerTimeoutMs, tracebacks: options.tracebacks})
      options.log.add({
        at, direction: 'in', latencyMs: performance.now() - started, ...(resource === path ? {} : {params: {resource}}), path, peer: 'inspector replay', protocol: 'korv',
        request: {bytes: jsonBytes(body), value: body}, response: {bytes: jsonBytes(response.body), value: response.body}, status: response.status, verb,
      })
      return {response: {bytes: jsonBytes(response.body), value: response.body}, status: response.status}
    },
  }
}
