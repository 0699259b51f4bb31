// tunnel messages (PROTOCOLS.md §2, compatible with REST Reverse SSH), one per gzip member on the
// gateway's direct-tcpip channel to a node.
//
// Request, gateway → node (all six keys always present):
//   {"id": "<uuid>", "request_type": "GET", "router": "/home", "data": null, "params": {"k": "v"}, "kwargs": {}}
// Response, node → gateway:
//   {"id": "<uuid, never 0>", "request_id": "<request id, or 0>", "ssh_response_code": 200, "response": ...}
// A STREAM answers with one 200 message per item, then the terminator {..., "ssh_response_code": 200, "response": null}.
import {randomUUID} from 'node:crypto'

export const TUNNEL_REQUEST_TYPES = ['GET', 'POST', 'PATCH', 'DELETE', 'STREAM', 'IDENTIFY', 'CANCEL'] as const
export type TunnelRequestType = (typeof TUNNEL_REQUEST_TYPES)[number]
/** The request types a node's router serves. */
export const TUNNEL_ROUTE_VERBS = ['GET', 'POST', 'PATCH', 'DELETE', 'STREAM'] as const

export type TunnelId = string | number

export interface TunnelRequestMessage {
  id: TunnelId
  request_type: TunnelRequestType
  router: string | null
  data: unknown
  params: Record<string, unknown> | null
  kwargs: Record<string, unknown>
}

export interface TunnelResponseMessage {
  id: TunnelId
  request_id: TunnelId
  ssh_response_code: number
  response: unknown
}

export type ParsedTunnelRequest = {ok: true; request: TunnelRequestMessage} | {ok: false; requestId: TunnelId; error: string}

const REQUIRED_KEYS = ['id', 'request_type', 'router', 'data', 'params', 'kwargs'] as const

/** rrssh's UPDATE is PATCH; verbs are case-insensitive. */
export function canonicalRequestType(type: string): TunnelRequestType | undefined {
  const upper = type.toUpperCase()
  if (upper === 'UPDATE') return 'PATCH'
  return (TUNNEL_REQUEST_TYPES as readonly string[]).includes(upper) ? (upper as TunnelRequestType) : undefined
}

export function newMessageId(): string {
  return randomUUID()
}

const isId = (value: unknown): value is TunnelId =>
  (typeof value === 'string' && value !== '') || (typeof value === 'number' && Number.isFinite(value) && value !== 0)
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Validates one decoded payload; a failure carries the request id when it could be read, else 0. */
export function parseTunnelRequest(payload: Buffer | string): ParsedTunnelRequest {
  let message: unknown
  try {
    message = JSON.parse(payload.toString())
  } catch (error) {
    return {error: `message is not valid JSON: ${(error as Error).message}`, ok: false, requestId: 0}
  }

  if (!isPlainObject(message)) return {error: 'message is not a JSON object', ok: false, requestId: 0}
  const {data, id, kwargs, params, request_type: type, router} = message
  if (!isId(id)) return {error: 'missing or invalid "id" (a non-empty string or non-zero number)', ok: false, requestId: 0}
  // The list of missing keys is only built when one is missing (this runs for every request).
  const complete = 'id' in message && 'request_type' in message && 'router' in message && 'data' in message && 'params' in message && 'kwargs' in message
  if (!complete) {
    const missing = REQUIRED_KEYS.filter((key) => !(key in message))
    return {error: `missing key${missing.length > 1 ? 's' : ''} ${missing.map((k) => `"${k}"`).join(', ')}`, ok: false, requestId: id}
  }

  if (typeof type !== 'string') return {error: '"request_type" must be a string', ok: false, requestId: id}
  const requestType = canonicalRequestType(type)
  if (!requestType) return {error: `unknown request_type "${type}"; use one of ${TUNNEL_REQUEST_TYPES.join(', ')}`, ok: false, requestId: id}
  if (router !== null && typeof router !== 'string') return {error: '"router" must be a string or null', ok: false, requestId: id}
  if (requestType !== 'IDENTIFY' && (typeof router !== 'string' || router === '')) {
    return {error: `"router" is required for ${requestType}`, ok: false, requestId: id}
  }

  if (params !== null && !isPlainObject(params)) return {error: '"params" must be an object or null', ok: false, requestId: id}
  if (kwargs !== null && !isPlainObject(kwargs)) return {error: '"kwargs" must be an object or null', ok: false, requestId: id}
  return {ok: true, request: {data: data ?? null, id, kwargs: kwargs ?? {}, params: params ?? null, request_type: requestType, router}}
}

/** Reads a response; undefined when the payload is not one (receivers ignore such messages). */
export function parseTunnelResponse(payload: Buffer | string): TunnelResponseMessage | undefined {
  const read = readTunnelResponse(payload)
  return read.ok ? read.response : undefined
}

export type ReadTunnelResponse = {ok: true; response: TunnelResponseMessage} | {ok: false; error: string; requestId?: TunnelId}

/**
 * Reads a response; a failure carries the request_id when it could be read, so that the request it
 * answers fails at once instead of waiting for its timeout. A status must be an integer 100-599.
 */
export function readTunnelResponse(payload: Buffer | string): ReadTunnelResponse {
  let message: unknown
  try {
    message = JSON.parse(payload.toString())
  } catch (error) {
    return {error: `not valid JSON: ${(error as Error).message}`, ok: false}
  }

  if (!isPlainObject(message)) return {error: 'not a JSON object', ok: false}
  const {id, request_id: requestId, response, ssh_response_code: code} = message
  if (typeof requestId !== 'string' && typeof requestId !== 'number') return {error: 'missing or invalid "request_id"', ok: false}
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 100 || code > 599) {
    return {error: `"ssh_response_code" must be an integer from 100 to 599, got ${typeof code === 'string' ? JSON.stringify(code.slice(0, 100)) : typeof code === 'number' ? String(code) : typeof code}`, ok: false, requestId}
  }

  return {ok: true, response: {id: typeof id === 'string' || typeof id === 'number' ? id : 0, request_id: requestId, response: response ?? null, ssh_response_code: code}}
}

/** Builds a request with all six keys. */
export function tunnelRequest(type: TunnelRequestType, router: string | null, data: unknown = null, params: Record<string, unknown> | null = null): TunnelRequestMessage {
  return {data, id: newMessageId(), kwargs: {}, params, request_type: type, router}
}
