// The JSON payloads of pipe frames, by frame type, and their validation. A payload that is not valid
// for its frame type yields a RestwireError; the session decides whether that ends one event (EVENT:
// RESET 400) or the connection (HELLO, REPLY).
import {RestwireError} from '../errors.js'

export const PIPE_PROTOCOL_VERSION = 1

/** HELLO, both ways, first frame on a connection: `{"version": 1, "role": "hub", "heartbeatMs": 5000}`. */
export interface HelloMeta {
  version: number
  role: 'hub' | 'node'
  heartbeatMs: number
}

/** EVENT: `{"verb": "GET", "noun": "time/utc", "args": ["a"], "contentType": "application/json"}`. */
export interface EventMeta {
  verb: string
  noun: string
  args: string[]
  contentType?: string
}

/** REPLY: `{"code": 0, "contentType": "application/json"}`; 0 ok, 251 handler raised, 255 no handler. */
export interface ReplyMeta {
  code: number
  contentType: string
}

/** RESET, either way: the event ends now; `code` is the HTTP-like status the caller reports. */
export interface ResetMeta {
  code: number
  reason: string
}

export const RETURN_OK = 0
export const RETURN_HANDLER_RAISED = 251
export const RETURN_NO_HANDLER = 255

export function parseJsonPayload(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}

function protocolError(message: string): RestwireError {
  return new RestwireError('RW_ERR_PROTOCOL', message)
}

export function parseHello(payload: Buffer): HelloMeta | RestwireError {
  const value = parseJsonPayload(payload) as Partial<HelloMeta> | undefined
  if (!value || typeof value !== 'object') return protocolError('HELLO is not a JSON object')
  if (value.version !== PIPE_PROTOCOL_VERSION) return protocolError(`the peer speaks pipe protocol version ${String(value.version)}, this side ${PIPE_PROTOCOL_VERSION}`)
  return value as HelloMeta
}

export function parseEventMeta(payload: Buffer): EventMeta | RestwireError {
  const value = parseJsonPayload(payload) as Partial<EventMeta> | undefined
  if (!value || typeof value !== 'object' || Array.isArray(value)) return protocolError('EVENT metadata is not a JSON object')
  if (typeof value.verb !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]*$/.test(value.verb)) return protocolError('EVENT needs a "verb" made of letters')
  if (typeof value.noun !== 'string' || value.noun === '') return protocolError('EVENT needs a non-empty "noun"')
  const args = value.args ?? []
  if (!Array.isArray(args) || !args.every((arg) => typeof arg === 'string')) return protocolError('EVENT "args" must be an array of strings')
  if (value.contentType !== undefined && typeof value.contentType !== 'string') return protocolError('EVENT "contentType" must be a string')
  return {args, contentType: value.contentType, noun: value.noun, verb: value.verb.toUpperCase()}
}

export function parseReplyMeta(payload: Buffer): ReplyMeta | RestwireError {
  const value = parseJsonPayload(payload) as Partial<ReplyMeta> | undefined
  if (!value || typeof value !== 'object') return protocolError('REPLY metadata is not a JSON object')
  if (typeof value.code !== 'number' || !Number.isInteger(value.code)) return protocolError('REPLY needs an integer "code"')
  return {code: value.code, contentType: typeof value.contentType === 'string' ? value.contentType : 'application/octet-stream'}
}

export function parseResetMeta(payload: Buffer): ResetMeta {
  const value = parseJsonPayload(payload) as Partial<ResetMeta> | undefined
  return {
    code: typeof value?.code === 'number' ? value.code : 502,
    reason: typeof value?.reason === 'string' ? value.reason : 'no reason given',
  }
}
