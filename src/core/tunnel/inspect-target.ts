// What the inspector asks of a tunnel gateway: its nodes, and a replay that is one more gateway → node
// request (the path a call through the HTTP API takes), with the record's params and the (edited) body.
import {RestwireError, StatusError} from '../errors.js'
import {parseQuery} from '../message/request.js'
import type {InspectTarget, ReplayEdit, ReplayOutcome} from '../observe/inspector.js'
import type {TrafficRecord} from '../observe/traffic.js'
import type {TunnelGatewayHandle, TunnelVerb} from './gateway.js'

const VERBS = new Set<TunnelVerb>(['DELETE', 'GET', 'PATCH', 'POST', 'UPDATE'])

export function tunnelInspectTarget(gateway: TunnelGatewayHandle): InspectTarget {
  return {
    name: 'tunnel gateway',
    peers: () =>
      gateway.nodes().map(({address, connectedSince, fingerprint, gateway: holder, id, inFlight}) => ({
        address, fingerprint, id, inFlight, since: connectedSince.toISOString(), ...(holder ? {holder} : {}),
      })),
    protocol: 'tunnel',
    async replay(record: TrafficRecord, edit: ReplayEdit): Promise<ReplayOutcome> {
      if (record.direction !== 'out' || !record.peer) throw new RestwireError('RW_ERR_USAGE', 'only a request the gateway sent to a node can be replayed here', {status: 400})
      const verb = record.verb.toUpperCase() as TunnelVerb
      if (!VERBS.has(verb)) throw new RestwireError('RW_ERR_USAGE', `a ${record.verb} cannot be replayed (only GET, POST, PATCH, DELETE, UPDATE)`, {status: 400})
      const mark = record.path.indexOf('?')
      const path = mark === -1 ? record.path : record.path.slice(0, mark)
      const params = isObject(record.params) ? record.params : mark === -1 ? undefined : parseQuery(record.path.slice(mark + 1))
      const data = edit.body === undefined ? jsonValue(record.request.value) : parseEdited(edit.body)
      try {
        const {body, status} = await gateway.request(record.peer, verb, path, {data, params})
        return {response: jsonBody(body), status}
      } catch (error) {
        if (error instanceof StatusError) return {response: jsonBody(error.body), status: error.status}
        throw error
      }
    },
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A request body as JSON data: a Buffer the log kept is parsed, a JSON value taken as is. */
export function jsonValue(value: unknown): unknown {
  if (!Buffer.isBuffer(value)) return value
  const text = value.toString('utf8')
  return text.trim() === '' ? undefined : parseEdited(text)
}

/** The edited body: JSON, or empty for none; anything else is a 400 the page shows. */
export function parseEdited(text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `the edited body is not valid JSON: ${(error as Error).message}`, {cause: error, status: 400})
  }
}

export function jsonBody(value: unknown): {bytes: number; value: unknown} {
  let bytes = 0
  try {
    bytes = Buffer.byteLength(JSON.stringify(value ?? null))
  } catch {
    // a value JSON cannot write is shown by the inspector's own fallback
  }

  return {bytes, value: value ?? null}
}
