// The one `--json` document of the call commands (korv call, tunnel call, pipe call, relay send): a
// response envelope, or the error document that BaseCommand.catch() prints. Field names are camelCase, as
// in the error JSON. docs/json-output.md describes it; docs/json-envelope.schema.json is its schema.
import type {RestwireError} from '../core/errors.js'

export type Protocol = 'korv' | 'tunnel' | 'pipe' | 'relay'

/** How `body` holds the bytes: a JSON value, UTF-8 text, base64 of binary bytes, or no body in the document. */
export type BodyEncoding = 'json' | 'text' | 'base64' | 'none'

/** VERB PATH (korv, pipe; tunnel adds its node) or a relay request name and its params. */
export type EnvelopeRequest = {node?: string; verb: string; path: string} | {name: string; params: Record<string, unknown>}

export interface EnvelopeTarget {
  /** In the address grammar of the flag that dials it: HOST:PORT, http://HOST:PORT, tcp://HOST:PORT, unix:/path. */
  address: string
  request: EnvelopeRequest
}

export interface EnvelopeTiming {
  totalMs: number
  connectMs?: number
  responseMs?: number
}

/** What only one protocol has; the envelope carries it under the protocol's name. */
export interface ProtocolDetails {
  korv: {requestId: number | null; batch?: {id: unknown; line: number}}
  tunnel: {item?: number; streamError?: boolean}
  pipe: {code: number | null; output?: {path: string; bytes: number}}
  relay: {id: unknown; reply: 'ok' | 'error'; time?: number; dispatched: boolean}
}

export interface EnvelopeInput<P extends Protocol> {
  protocol: P
  ok: boolean
  target: EnvelopeTarget
  status: number | null
  headers?: Record<string, unknown>
  body: unknown
  bodyEncoding?: BodyEncoding
  timing: EnvelopeTiming
  details: ProtocolDetails[P]
}

export type CallEnvelope = {
  ok: boolean
  protocol: Protocol
  target: EnvelopeTarget
  status: number | null
  headers: Record<string, string | string[]>
  body: unknown
  bodyEncoding: BodyEncoding
  timing: EnvelopeTiming
} & Partial<{[P in Protocol]: ProtocolDetails[P]}>

/** The response envelope, its fields always in the same order. */
export function buildEnvelope<P extends Protocol>(input: EnvelopeInput<P>): CallEnvelope {
  const timing: EnvelopeTiming = {totalMs: roundMs(input.timing.totalMs)}
  if (input.timing.connectMs !== undefined) timing.connectMs = roundMs(input.timing.connectMs)
  if (input.timing.responseMs !== undefined) timing.responseMs = roundMs(input.timing.responseMs)
  return {
    ok: input.ok,
    protocol: input.protocol,
    target: input.target,
    status: input.status,
    headers: normalizeHeaders(input.headers),
    body: input.body ?? null,
    bodyEncoding: input.bodyEncoding ?? (input.body === undefined || input.body === null ? 'none' : 'json'),
    timing,
    [input.protocol]: input.details,
  }
}

export interface ErrorContext<P extends Protocol> {
  protocol: P
  target?: EnvelopeTarget
  details?: ProtocolDetails[P]
}

/** The error document: `{ok: false, error}`, plus the protocol, target and details when the command knows them. */
export function errorDocument<P extends Protocol>(error: RestwireError, context?: ErrorContext<P>): Record<string, unknown> {
  const document: Record<string, unknown> = {ok: false, error: error.toJSON()}
  if (context) {
    document.protocol = context.protocol
    if (context.target) document.target = context.target
    if (context.details) document[context.protocol] = context.details
  }

  return document
}

/**
 * A reply's bytes as the envelope's body: none when empty, JSON when the type says so and it parses, text
 * when the type is textual (or JSON that does not parse) and the bytes are UTF-8, else base64.
 */
export function bodyFromBytes(bytes: Buffer, contentType: string): {body: unknown; bodyEncoding: BodyEncoding} {
  if (bytes.length === 0) return {body: null, bodyEncoding: 'none'}
  const isJson = /\bjson\b/i.test(contentType)
  const text = isJson || /^text\/|\bxml\b|javascript|x-www-form-urlencoded/i.test(contentType) ? utf8(bytes) : undefined
  if (text !== undefined && isJson) {
    try {
      return {body: JSON.parse(text), bodyEncoding: 'json'}
    } catch {
      // Said to be JSON, but is not: kept as text below.
    }
  }

  if (text !== undefined) return {body: text, bodyEncoding: 'text'}
  return {body: bytes.toString('base64'), bodyEncoding: 'base64'}
}

export const roundMs = (ms: number): number => Math.round(ms * 100) / 100

function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', {fatal: true}).decode(bytes)
  } catch {
    return undefined
  }
}

/** Header values as strings (or arrays of strings for repeated headers); names as received. */
function normalizeHeaders(headers: Record<string, unknown> | undefined): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined || value === null) continue
    result[name] = Array.isArray(value) ? value.map(String) : String(value)
  }

  return result
}
