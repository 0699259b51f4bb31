// The relay wire format (PROTOCOLS.md section 4, compatible with txhttprelay clients).
//
// Client → relay, one JSON object per line ("\n" or "\r\n"):
//   {"request": "<name>", "id": <any JSON>, "params": {"user_id": 7}, "data": <body>}
// Relay → client, one JSON object per line:
//   {"status": "dispatched", "id": <id>}                      at once, when the request is accepted
//   {"status": "ok"|"error", "time": <seconds>, "id": <id>,  when the HTTP exchange ends (completion order)
//    "response": <body or {"error": "..."}>, "http_status": <n>, "headers": {...}}
//   {"status": "error", "id": <id or null>, "response": {"error": "...", "code": "RW_ERR_..."}}
//                                                              for a line that cannot be accepted
// restwire adds "http_status" and "headers" (when an HTTP response arrived) and "code" inside an error
// response (a stable RW_ERR_* code for scripts; `relay send` maps it to its exit code).
import type {ErrorCode} from '../errors.js'
import {stringifyJson} from '../json.js'

export interface RelayRequestLine {
  request: string
  id: unknown
  params?: Record<string, unknown>
  data?: unknown
}

export type ParsedRelayLine = {ok: true; value: RelayRequestLine} | {ok: false; id: unknown; error: string}

export interface RelayErrorResponse {
  error: string
  code: ErrorCode
}

export function parseRelayLine(line: Buffer | string): ParsedRelayLine {
  let value: unknown
  try {
    value = JSON.parse(typeof line === 'string' ? line : line.toString('utf8'))
  } catch (error) {
    return {error: `not valid JSON: ${(error as Error).message}`, id: null, ok: false}
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {error: `a request must be a JSON object like {"request": "name", "id": 1}, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`, id: null, ok: false}
  }

  const object = value as Record<string, unknown>
  const id = object.id === undefined ? null : object.id
  if (typeof object.request !== 'string' || object.request === '') return {error: '"request" must be the name of a configured request', id, ok: false}
  const {params} = object
  if (params !== undefined && params !== null && (typeof params !== 'object' || Array.isArray(params))) return {error: '"params" must be an object', id, ok: false}
  return {ok: true, value: {data: object.data, id, params: (params ?? undefined) as Record<string, unknown> | undefined, request: object.request}}
}

/** The id as JSON text, written once per line and reused in every reply; RW_ERR_JSON when it cannot be (too deep). */
export function idJson(id: unknown): string {
  // A number from JSON.parse is finite: its JSON text is its String() (the common id, without a stringify).
  if (typeof id === 'number') return String(id)
  return stringifyJson(id, 'the "id"')
}

export function dispatchedLine(id: string): string {
  return `{"status":"dispatched","id":${id}}\n`
}

/**
 * The final reply, fields in the order of PROTOCOLS.md (status, time, id, response, then restwire's).
 * `time` stays a JSON number of seconds (what txhttprelay clients parse), rounded to 0.1 ms: 4 decimals.
 * `headersJson`, when given, is `JSON.stringify(headers)` made already (exchange.ts).
 * Throws RW_ERR_JSON when `response` (an upstream's body) cannot be written as JSON (nested too deeply).
 */
export function finalLine(ok: boolean, timeSeconds: number, id: string, response: unknown, httpStatus: number | undefined, headers: Record<string, unknown> | undefined, headersJson?: string): string {
  const body = response === undefined ? 'null' : stringifyJson(response, "the upstream's response body")
  let line = `{"status":"${ok ? 'ok' : 'error'}","time":${decimalText(timeSeconds, 4)},"id":${id},"response":${body}`
  // Header values are strings (or arrays of them): they always serialise.
  if (httpStatus !== undefined) line += `,"http_status":${httpStatus},"headers":${headersJson ?? JSON.stringify(headers ?? {})}`
  return line + '}\n'
}

/** Seconds to 4 decimals (0.1 ms), as docs/relay.md shows them; never written in exponent form. */
export function roundSeconds(seconds: number): number {
  return Math.round(seconds * 10_000) / 10_000
}

const SCALES = [1, 10, 100, 1000, 10_000]

/**
 * `String(Math.round(value * 10^digits) / 10^digits)` (digits 0 to 4) built from integers: a reply's time
 * and a log line's milliseconds, thousands of times a second, without V8's double-to-text conversion.
 * The same text: the shortest form of a double nearest to k/10^digits is that decimal, for k up to 2^30.
 */
export function decimalText(value: number, digits: number): string {
  const scale = SCALES[digits]!
  const scaled = Math.round(value * scale)
  // Negative, too large or not a number: the general conversion.
  if (!(scaled >= 0 && scaled <= 0x3f_ff_ff_ff)) return String(scaled / scale)
  const whole = Math.floor(scaled / scale)
  let fraction = scaled - whole * scale
  if (fraction === 0) return String(whole)
  let width = digits
  while (fraction % 10 === 0) {
    fraction /= 10
    width--
  }

  const text = String(fraction)
  return `${whole}.${'0'.repeat(width - text.length)}${text}`
}

/** Names listed in the answer to an unknown name; a config with more says how many it left out. */
const LISTED_NAMES = 50

/** `unknown request "nope"; the requests are: user, create_user`: the client learns what it may ask for. */
export function unknownRequestMessage(name: string, known: Iterable<string>): string {
  const names = [...known]
  const listed = names.slice(0, LISTED_NAMES).join(', ')
  const more = names.length > LISTED_NAMES ? ` and ${names.length - LISTED_NAMES} more` : ''
  return `unknown request ${JSON.stringify(name)}; the requests are: ${listed}${more}`
}

/** The error line for input that was not accepted (no "time": nothing was dispatched). */
export function rejectionLine(id: string, error: string, code: ErrorCode): string {
  return `{"status":"error","id":${id},"response":${JSON.stringify({code, error} satisfies RelayErrorResponse)}}\n`
}
