// One configured request made executable: builds the HTTP request from params and data, sends it on an
// undici dispatcher with timeout, retries (idempotent methods only) and a bounded response body, and
// turns the outcome into a final reply. Never throws: every failure is an error reply with a code.
import type {Dispatcher} from 'undici'
import type {ErrorCode} from '../errors.js'
import {stringifyJson} from '../json.js'
import type {RelayTemplate} from './config.js'
import {Deadlines} from './deadlines.js'
import {type CancelReason, type ExchangeOutcome, type RelayCall, type ResponseHeaders, TOO_LARGE, exchange} from './exchange.js'
import {type Params, PlaceholderError, fillTemplate, paramValue} from './url-template.js'

/** Upstream statuses worth another attempt (when not expected and retries remain). */
const RETRY_STATUSES = new Set([502, 503, 504])
const MAX_BACKOFF_MS = 5000

export interface PreparedCall {
  path: string
  body: string | undefined
  headers: Record<string, string>
}

export interface RelayCallResult {
  ok: boolean
  response: unknown
  httpStatus?: number
  headers?: ResponseHeaders
  /** JSON.stringify(headers), when the exchange made it as it read them. */
  headersJson?: string
  code?: ErrorCode
}

/** Input that cannot become a request (bad data for the encoding, a missing placeholder): a rejection. */
export class RelayInputError extends Error {}

export class RelayRoute {
  private readonly headersWithBody: Record<string, string>
  private readonly sendsBody: boolean
  /** The template's timeout for every call, on one timer (deadlines.ts). */
  private readonly deadlines: Deadlines

  constructor(
    readonly template: RelayTemplate,
    private readonly dispatcher: Dispatcher,
  ) {
    const contentType = template.encoding === 'form' ? 'application/x-www-form-urlencoded' : 'application/json'
    this.headersWithBody = {'content-type': contentType, ...template.headers}
    this.sendsBody = template.method !== 'GET' && template.method !== 'HEAD'
    this.deadlines = new Deadlines(template.timeoutMs)
  }

  /** Throws RelayInputError for input the template cannot take, RW_ERR_JSON for data too deep to serialise. */
  prepare(params: Params, data: unknown): PreparedCall {
    const {template} = this
    try {
      let path = fillTemplate(template.path, params)
      for (let i = 0; i < template.query.length; i++) {
        const [key, value] = template.query[i]!
        path += (i === 0 && !path.includes('?') ? '?' : '&') + key + '=' + encodeURIComponent(value.names.length === 0 ? value.literals[0]! : fillRaw(value.literals, value.names, params))
      }

      if (data === undefined || data === null) return {body: undefined, headers: template.headers, path}
      if (!this.sendsBody) throw new RelayInputError(`request "${template.name}" is a ${template.method} and takes no "data"`)
      return {body: template.encoding === 'form' ? encodeForm(data) : stringifyJson(data, '"data"'), headers: this.headersWithBody, path}
    } catch (error) {
      if (error instanceof PlaceholderError) throw new RelayInputError(`request "${template.name}": ${error.message}`)
      throw error
    }
  }

  /**
   * Sends the request with retries under the template's timeout; `call.cancel()` stops it at any point.
   * `done` gets the result once. Callbacks, not async/await: no promise per attempt or per call on the
   * relay's hot path.
   */
  call(prepared: PreparedCall, call: RelayCall, done: (result: RelayCallResult) => void): void {
    new Attempts(this, prepared, call, done).send()
  }

  /** The timeout list of this route (Attempts starts and ends each call's timeout on it). */
  get timeouts(): Deadlines {
    return this.deadlines
  }

  /** The result of an upstream answer that is not retried. */
  answered(outcome: {status: number; headers: ResponseHeaders; headersJson: string | undefined; body: Buffer}, expected: boolean): RelayCallResult {
    const body = decodeBody(outcome.body, outcome.headers['content-type'])
    if (expected) return {headers: outcome.headers, headersJson: outcome.headersJson, httpStatus: outcome.status, ok: true, response: body}
    return {code: outcome.status >= 500 ? 'RW_ERR_REMOTE_5XX' : 'RW_ERR_REMOTE_4XX', headers: outcome.headers, headersJson: outcome.headersJson, httpStatus: outcome.status, ok: false, response: body}
  }

  failed(error: Error): RelayCallResult {
    return failure(`${this.template.method} ${this.template.origin}: ${upstreamReason(error)}`)
  }

  send(options: Dispatcher.DispatchOptions, call: RelayCall, settle: (outcome: ExchangeOutcome) => void): void {
    exchange(this.dispatcher, options, call, this.template.maxResponseBytes, settle)
  }

  tooLarge(status: number, headers: ResponseHeaders): RelayCallResult {
    const error = `${this.template.method} ${this.template.origin}: response body over the ${this.template.maxResponseBytes} byte limit (max_response_bytes)`
    return {...failure(error), headers, httpStatus: status}
  }

  cancelled(reason: CancelReason): RelayCallResult {
    if (reason === 'timeout') return failure(`${this.template.method} ${this.template.origin}: no complete answer within ${this.template.timeoutMs} ms (timeout)`, 'RW_ERR_TIMEOUT')
    return failure('cancelled: the client closed its connection', 'RW_ERR_CLOSED')
  }
}

/**
 * One call's attempts, in order: an exchange, then its outcome: a result, or (retries left, idempotent
 * method) a backoff wait and the next exchange. The call's timeout spans all of them.
 */
class Attempts {
  private attempt = 0
  private readonly options: Dispatcher.DispatchOptions

  constructor(
    private readonly route: RelayRoute,
    prepared: PreparedCall,
    private readonly call: RelayCall,
    private readonly done: (result: RelayCallResult) => void,
  ) {
    const {template} = route
    route.timeouts.add(call)
    // The call's own timeout (above) spans every attempt and starts before undici's per-phase timers
    // would: it always ends the exchange first, so those are off (0) and not set and cleared per request.
    this.options = {
      body: prepared.body,
      bodyTimeout: 0,
      headers: prepared.headers,
      headersTimeout: 0,
      method: template.method,
      origin: template.origin,
      path: prepared.path,
    }
  }

  send(): void {
    this.route.send(this.options, this.call, this.onOutcome)
  }

  private finish(result: RelayCallResult): void {
    this.route.timeouts.remove(this.call)
    this.done(result)
  }

  private readonly onOutcome = (outcome: ExchangeOutcome): void => {
    const {call, route} = this
    const {template} = route
    if (call.cancelled) return this.finish(route.cancelled(call.cancelled))
    const retry = this.attempt < template.retries
    if ('error' in outcome) {
      if (outcome.error === TOO_LARGE) return this.finish(route.tooLarge(outcome.status!, outcome.headers!))
      if (!retry) return this.finish(route.failed(outcome.error))
      return backoff(template.retryBackoffMs, this.attempt, call, (again) => {
        if (again) return this.next()
        this.finish(call.cancelled ? route.cancelled(call.cancelled) : route.failed(outcome.error))
      })
    }

    const expected = template.expect.includes(outcome.status)
    if (!expected && retry && RETRY_STATUSES.has(outcome.status)) {
      return backoff(template.retryBackoffMs, this.attempt, call, (again) => {
        if (again) return this.next()
        this.finish(route.cancelled(call.cancelled!))
      })
    }

    this.finish(route.answered(outcome, expected))
  }

  private next(): void {
    this.attempt++
    this.send()
  }
}

function failure(error: string, code: ErrorCode = 'RW_ERR_RELAY_UPSTREAM'): RelayCallResult {
  return {code, ok: false, response: {code, error}}
}

/** Waits base * 2^attempt (capped), then `then(true)`; `then(false)` at once or as soon as the call is cancelled. */
function backoff(baseMs: number, attempt: number, call: RelayCall, then: (again: boolean) => void): void {
  if (call.cancelled) return then(false)
  const timer = setTimeout(() => {
    call.wake = undefined
    then(true)
  }, Math.min(MAX_BACKOFF_MS, baseMs * 2 ** attempt))
  // Woken by cancel(): the caller's stack (a timeout sweep, a closing connection) is left first.
  call.wake = () => {
    clearTimeout(timer)
    call.wake = undefined
    queueMicrotask(() => then(false))
  }
}

function fillRaw(literals: readonly string[], names: readonly string[], params: Params): string {
  let out = literals[0]!
  for (let i = 0; i < names.length; i++) out += paramValue(params, names[i]!) + literals[i + 1]!
  return out
}

function encodeForm(data: unknown): string {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new RelayInputError('"data" for a form-encoded request must be an object')
  const form = new URLSearchParams()
  for (const [key, value] of Object.entries(data)) {
    if (Array.isArray(value)) for (const item of value) form.append(key, formValue(item))
    else if (value !== undefined && value !== null) form.append(key, formValue(value))
  }

  return form.toString()
}

/** Objects (and arrays inside arrays) as JSON: String() of a deeply nested array recurses like JSON.stringify. */
function formValue(value: unknown): string {
  return typeof value === 'object' && value !== null ? stringifyJson(value, 'a "data" field') : String(value)
}

function decodeBody(bytes: Buffer, contentType: string | string[] | undefined): unknown {
  if (bytes.length === 0) return null
  const text = bytes.toString('utf8')
  if (typeof contentType === 'string' && contentType.includes('json')) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }

  return text
}

/** A short reason for a failed exchange: refused, TLS verification, reset... (never headers or bodies). */
function upstreamReason(error: unknown): string {
  const {code, message} = error as {code?: string; message?: string}
  if (code === 'ECONNREFUSED') return 'connection refused'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `DNS lookup failed: ${message}`
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect timeout'
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset by the server'
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return `TLS certificate not trusted (${code}): ${message}; set "ca" for a private CA`
  return code ? `${message} (${code})` : (message ?? String(error))
}
