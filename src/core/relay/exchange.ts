// One HTTP exchange on an undici dispatcher, as a dispatch handler: the body is collected as it arrives
// and the exchange aborted as soon as it passes the size limit. No stream, async iterator or AbortSignal
// per request: this is the relay's per-request hot path. `RelayCall` is the request as the connection
// sees it, cancellable at any point (timeout, client gone).
import type {Dispatcher} from 'undici'

/** Why a call was cancelled: its own timeout, or the client went away (or the relay is closing). */
export type CancelReason = 'timeout' | 'client-gone'

export type ResponseHeaders = Record<string, string | string[]>

export class RelayCall {
  cancelled: CancelReason | undefined = undefined
  /** Aborts the exchange in progress (set while one is). */
  abortExchange: ((error: Error) => void) | undefined = undefined
  /** Ends a backoff wait early (set while waiting). */
  wake: (() => void) | undefined = undefined
  // Its place in its route's timeout list (deadlines.ts): one timer per route, not one per call.
  deadline = 0
  timed = false
  prevDeadline: RelayCall | undefined = undefined
  nextDeadline: RelayCall | undefined = undefined

  cancel(reason: CancelReason): void {
    if (this.cancelled) return
    this.cancelled = reason
    this.abortExchange?.(new Error(`relay call cancelled (${reason})`))
    this.wake?.()
  }
}

/** The error an exchange ends with when the body passes the limit (its status and headers are kept). */
export const TOO_LARGE = new Error('response body over the limit')

/** `headersJson`: the headers' JSON text (`JSON.stringify(headers)`), made as they were read when that was simple. */
export type ExchangeOutcome = {status: number; headers: ResponseHeaders; headersJson: string | undefined; body: Buffer} | {error: Error; status?: number; headers?: ResponseHeaders}

/**
 * Runs one exchange; `settle` gets its outcome once, in a microtask after undici's callback (never inside
 * undici's own call stack, and without a promise per exchange).
 */
export function exchange(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, call: RelayCall, limit: number, settle: (outcome: ExchangeOutcome) => void): void {
  const handler = new ExchangeHandler(call, limit, settle)
  try {
    dispatcher.dispatch(options, handler)
  } catch (error) {
    handler.onError(error as Error)
  }
}

// The handler methods undici's own request() uses (onConnect, onHeaders, onData, onComplete, onError):
// a dispatcher calls them directly, where the newer onRequestStart... style goes through an adapter.
class ExchangeHandler implements Dispatcher.DispatchHandler {
  private status = 0
  private headers: ResponseHeaders = {}
  private headersJson: string | undefined = undefined
  private chunks: Buffer[] = []
  private size = 0
  private abort: ((error: Error) => void) | undefined
  private settled = false

  constructor(
    private readonly call: RelayCall,
    private readonly limit: number,
    private readonly settle: (outcome: ExchangeOutcome) => void,
  ) {}

  onConnect(abort: (error?: Error) => void): void {
    this.abort = abort
    this.call.abortExchange = abort
    if (this.call.cancelled) abort(new Error('relay call cancelled'))
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true
    this.status = statusCode
    const parsed = parseRawHeaders(rawHeaders)
    this.headers = parsed.headers
    this.headersJson = parsed.json
    if (Number(this.headers['content-length'] ?? 0) > this.limit) this.abort!(TOO_LARGE)
    return true
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length
    if (this.size > this.limit) {
      this.chunks = []
      this.abort!(TOO_LARGE)
      return false
    }

    this.chunks.push(chunk)
    return true
  }

  onComplete(): void {
    this.call.abortExchange = undefined
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size)
    this.finish({body, headers: this.headers, headersJson: this.headersJson, status: this.status})
  }

  onError(error: Error): void {
    this.call.abortExchange = undefined
    this.chunks = []
    this.finish(error === TOO_LARGE ? {error, headers: this.headers, status: this.status} : {error})
  }

  private finish(outcome: ExchangeOutcome): void {
    if (this.settled) return
    this.settled = true
    queueMicrotask(() => this.settle(outcome))
  }
}

/**
 * A header name as lower-case text. The runtime hands in undici's `util.headerNameToString` once it has
 * loaded undici (this module does not load it): a well-known name comes from its table, one string for
 * every response, without a copy or a toLowerCase; another name takes the same path as this default.
 */
let headerName = (raw: Buffer): string => raw.toString('latin1').toLowerCase()
export function useHeaderNames(lookup: (raw: Buffer) => string): void {
  headerName = lookup
}

/** A name or value that JSON.stringify writes between quotes as it is (no quote, backslash or control character). */
// eslint-disable-next-line no-control-regex
const PLAIN = /^[^"\\\u0000-\u001f]*$/
/** A name JSON.stringify would move to the front (an integer-like key), or one an object does not keep. */
const REORDERED = /^[0-9]|^__proto__$/

/**
 * undici's raw header list (name, value, name, value...) as an object: lower-case names, repeated ones as
 * arrays. With it, its JSON text (what the final reply carries), built as the headers are read, the same
 * as `JSON.stringify(headers)`; undefined when a repeated name, an escape or a reordered name needs the
 * general path.
 */
export function parseRawHeaders(raw: Buffer[]): {headers: ResponseHeaders; json: string | undefined} {
  const headers: ResponseHeaders = {}
  let json: string | undefined = '{'
  for (let i = 0; i < raw.length; i += 2) {
    const name = headerName(raw[i]!)
    const value = raw[i + 1]!.toString('latin1')
    const previous = Object.hasOwn(headers, name) ? headers[name] : undefined
    if (previous === undefined) {
      headers[name] = value
      if (json !== undefined) json = PLAIN.test(name) && PLAIN.test(value) && !REORDERED.test(name) ? `${json}${json.length === 1 ? '' : ','}"${name}":"${value}"` : undefined
    } else {
      json = undefined
      if (Array.isArray(previous)) previous.push(value)
      else headers[name] = [previous, value]
    }
  }

  return {headers, json: json === undefined ? undefined : json + '}'}
}
