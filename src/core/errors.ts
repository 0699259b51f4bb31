// One catalogue of typed errors with stable codes, each mapped to a process exit code and a hint.
// Match on `code`, never on message text. docs/errors.md lists every entry.

interface CatalogueEntry {
  readonly exitCode: number
  readonly hint?: string
}

export const ERROR_CATALOGUE = {
  RW_ERR_INTERNAL: {exitCode: 1, hint: 'This is a bug in restwire; rerun with --verbose and report it.'},
  RW_ERR_USAGE: {exitCode: 2, hint: 'See --help for the command.'},
  RW_ERR_CONFIG: {exitCode: 2, hint: 'Fix the file or flag named in the message.'},
  RW_ERR_CONNECT: {exitCode: 3, hint: 'Is the server running, and is --to its address?'},
  RW_ERR_AUTH: {exitCode: 4, hint: "Add your public key to the server's authorized_keys file, or make a key it trusts: restwire keys gen -f KEY --authorize AUTHORIZED_KEYS."},
  RW_ERR_HOST_KEY_UNKNOWN: {exitCode: 5},
  RW_ERR_HOST_KEY_CHANGED: {exitCode: 6},
  RW_ERR_TIMEOUT: {exitCode: 7, hint: 'Raise --timeout, or check that the peer is responsive.'},
  RW_ERR_REMOTE_4XX: {exitCode: 8},
  RW_ERR_REMOTE_5XX: {exitCode: 9},
  RW_ERR_KEY_FILE: {exitCode: 10},
  RW_ERR_FILE_EXISTS: {exitCode: 10, hint: 'Pass --force to overwrite it.'},
  RW_ERR_PROTOCOL: {exitCode: 11, hint: 'The peer sent something that is not valid for this protocol.'},
  RW_ERR_FRAME_CORRUPT: {exitCode: 11},
  RW_ERR_FRAME_TOO_LARGE: {exitCode: 11, hint: 'Raise the message size limit on both sides, or send less.'},
  RW_ERR_JSON: {exitCode: 11, hint: 'The value is nested too deeply, circular, or holds a BigInt or a function; JSON cannot carry it.'},
  RW_ERR_CLOSED: {exitCode: 3, hint: 'The connection closed before the answer arrived.'},
  RW_ERR_NODE_UNKNOWN: {exitCode: 12, hint: 'No tunnel node with that id is connected to the gateway; check the id against the list of nodes.'},
  RW_ERR_RELAY_REQUEST: {exitCode: 2, hint: 'Check the request name and its params against `restwire relay check --config FILE`.'},
  RW_ERR_RELAY_UPSTREAM: {exitCode: 13, hint: 'The relay could not complete the HTTP exchange; check the URL, the upstream service and its certificate.'},
  RW_ERR_CLUSTER: {exitCode: 3, hint: 'Check --cluster (nats://HOST:PORT), the NATS credentials, and that nats-server is running.'},
  RW_ERR_INTERRUPTED: {exitCode: 130},
} as const satisfies Record<string, CatalogueEntry>

export type ErrorCode = keyof typeof ERROR_CATALOGUE

export interface RestwireErrorOptions {
  cause?: unknown
  hint?: string
  /** Structured facts for --json output (never secrets). */
  details?: Record<string, unknown>
  /** The HTTP status a gateway answers this failure with (404, 503, 504...); also `details.status`. */
  status?: number
}

export class RestwireError extends Error {
  readonly code: ErrorCode
  readonly exitCode: number
  readonly hint?: string
  readonly details?: Record<string, unknown>
  /** The HTTP status a gateway answers this failure with, when it has one. */
  readonly status?: number

  constructor(code: ErrorCode, message: string, options: RestwireErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    // Subclasses keep this name: tracebacks and logs read as before; branch on the class or the code.
    this.name = 'RestwireError'
    this.code = code
    const entry: CatalogueEntry = ERROR_CATALOGUE[code]
    this.exitCode = entry.exitCode
    this.hint = options.hint ?? entry.hint
    // A status given only in details (the form before `status` existed) is typed too.
    const detailed = options.details?.status
    this.status = options.status ?? (typeof detailed === 'number' ? detailed : undefined)
    // details.status stays, last, so that the JSON document and older readers of details see what they did.
    this.details = options.status === undefined ? options.details : {...options.details, status: options.status}
  }

  toJSON(): Record<string, unknown> {
    return {code: this.code, message: this.message, exitCode: this.exitCode, hint: this.hint, ...this.details}
  }
}

/**
 * The typed errors below are the failures a caller branches on. Each has exactly one code, so
 * `error instanceof TimeoutError` and `error.code === 'RW_ERR_TIMEOUT'` always agree; the fields
 * are typed, and the JSON document is the same as the base class makes.
 */

/** A peer answered with a status outside 2xx: `RW_ERR_REMOTE_4XX` or `RW_ERR_REMOTE_5XX` by the status. */
export class StatusError extends RestwireError {
  declare readonly status: number
  /** The peer's answer, as it came (parsed JSON, text...). */
  readonly body: unknown

  constructor(status: number, message: string, options: Omit<RestwireErrorOptions, 'status'> & {body?: unknown} = {}) {
    const {body, ...rest} = options
    super(status >= 500 ? 'RW_ERR_REMOTE_5XX' : 'RW_ERR_REMOTE_4XX', message, {...rest, details: {...rest.details, body}, status})
    this.body = body
  }
}

/** No answer (or handshake, or heartbeat) within a bound: `RW_ERR_TIMEOUT`. */
export class TimeoutError extends RestwireError {
  /** The bound that passed, in milliseconds, when the thrower knows it. */
  readonly timeoutMs?: number

  constructor(message: string, options: RestwireErrorOptions & {timeoutMs?: number} = {}) {
    const {timeoutMs, ...rest} = options
    super('RW_ERR_TIMEOUT', message, rest)
    this.timeoutMs = timeoutMs
  }
}

/**
 * The connection the answer was to come on is gone: `RW_ERR_CLOSED`. The peer closed or dropped it,
 * missed its heartbeats, reset the event or stayed away too long, or this side closed the client.
 */
export class PeerGoneError extends RestwireError {
  constructor(message: string, options: RestwireErrorOptions = {}) {
    super('RW_ERR_CLOSED', message, options)
  }
}

/** The byte stream from the peer cannot be decoded (gzip, frame header): `RW_ERR_FRAME_CORRUPT`. */
export class FrameCorruptError extends RestwireError {
  constructor(message: string, options: RestwireErrorOptions = {}) {
    super('RW_ERR_FRAME_CORRUPT', message, options)
  }
}

/** Codes whose error needs a field only its class takes (the status of a StatusError). */
type StatusCode = 'RW_ERR_REMOTE_4XX' | 'RW_ERR_REMOTE_5XX'

/** An error for a code known only at run time, of the class that code has (for re-raising a decoder's code). */
export function errorForCode<C extends Exclude<ErrorCode, StatusCode>>(code: C, message: string, options: RestwireErrorOptions = {}): RestwireError & {readonly code: C} {
  const error = code === 'RW_ERR_TIMEOUT' ? new TimeoutError(message, options)
    : code === 'RW_ERR_CLOSED' ? new PeerGoneError(message, options)
      : code === 'RW_ERR_FRAME_CORRUPT' ? new FrameCorruptError(message, options)
        : new RestwireError(code, message, options)
  return error as RestwireError & {readonly code: C}
}

export function isRestwireError(value: unknown, code?: ErrorCode): value is RestwireError {
  return value instanceof RestwireError && (code === undefined || value.code === code)
}

/** The Node.js errno code of a system error (`ENOENT`, `ECONNREFUSED`...), if any. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown} | null)?.code
  return typeof code === 'string' ? code : undefined
}
