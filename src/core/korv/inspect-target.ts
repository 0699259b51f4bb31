// What the inspector asks of korv serve: a replay that runs the request through the service's handler
// (the router, or the --upstream handler) under the same timeout and rules as a real channel, and is
// recorded in the log like one (peer "inspector replay"). korv serve keeps no list of its clients.
import {LazyAbort, invokeHandler} from '../message/invoke.js'
import {type RequestHandler, type RwRequest, splitResource} from '../message/request.js'
import {jsonBytes} from '../observe/record.js'
import type {InspectTarget, ReplayEdit, ReplayOutcome} from '../observe/inspector.js'
import type {TrafficLog, TrafficRecord} from '../observe/traffic.js'
import {jsonValue, parseEdited} from '../tunnel/inspect-target.js'
import {canonicalVerb} from './messages.js'

export interface KorvInspectOptions {
  handler: RequestHandler
  log: TrafficLog
  handlerTimeoutMs?: number
  tracebacks?: boolean
}

export function korvInspectTarget(options: KorvInspectOptions): InspectTarget {
  return {
    name: 'korv serve',
    peers: () => [],
    protocol: 'korv',
    async replay(record: TrafficRecord, edit: ReplayEdit): Promise<ReplayOutcome> {
      const verb = canonicalVerb(record.verb) ?? record.verb
      const body = edit.body === undefined ? jsonValue(record.request.value) : parseEdited(edit.body)
      const {path, query} = splitResource(record.path)
      const abort = new LazyAbort()
      const request: RwRequest = {body: body ?? null, client: {address: 'inspector replay'}, params: {}, path, query, resource: record.path, get signal() {
        return abort.signal
      }, verb}
      const at = Date.now()
      const started = performance.now()
      const response = await invokeHandler(options.handler, request, abort, {timeoutMs: options.handlerTimeoutMs, tracebacks: options.tracebacks})
      options.log.add({
        at, direction: 'in', latencyMs: performance.now() - started, path, peer: 'inspector replay', protocol: 'korv',
        request: {bytes: jsonBytes(body), value: body}, response: {bytes: jsonBytes(response.body), value: response.body}, status: response.status, verb,
      })
      return {response: {bytes: jsonBytes(response.body), value: response.body}, status: response.status}
    },
  }
}
