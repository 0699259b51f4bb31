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
}

export class RestwireError extends Error {
  readonly code: ErrorCode
  readonly exitCode: number
  readonly hint?: string
  readonly details?: Record<string, unknown>

  constructor(code: ErrorCode, message: string, options: RestwireErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'RestwireError'
    this.code = code
    const entry: CatalogueEntry = ERROR_CATALOGUE[code]
    this.exitCode = entry.exitCode
    this.hint = options.hint ?? entry.hint
    this.details = options.details
  }

  toJSON(): Record<string, unknown> {
    return {code: this.code, message: this.message, exitCode: this.exitCode, hint: this.hint, ...this.details}
  }
}

export function isRestwireError(value: unknown, code?: ErrorCode): value is RestwireError {
  return value instanceof RestwireError && (code === undefined || value.code === code)
}

/** The Node.js errno code of a system error (`ENOENT`, `ECONNREFUSED`...), if any. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown} | null)?.code
  return typeof code === 'string' ? code : undefined
}
