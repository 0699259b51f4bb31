// One configured request made executable: builds the HTTP request from params and data, sends it on an
// undici dispatcher with timeout, retries (idempotent methods only) and a bounded response body, and
// turns the outcome into a final reply. Never throws: every failure is an error reply with a code.
import type {Dispatcher} from 'undici'
import type {ErrorCode} from '../errors.js'
import {stringifyJson} from '../json.js'
import type {RelayTemplate} from './config.js'
import {type CancelReason, type RelayCall, type ResponseHeaders, TOO_LARGE, exchange} from './exchange.js'
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
  code?: ErrorCode
}

/** Input that cannot become a request (bad data for the encoding, a missing placeholder): a rejection. */
export class RelayInputError extends Error {}

export class RelayRoute {
  private readonly headersWithBody: Record<string, string>
  private readonly sendsBody: boolean

  constructor(
    readonly template: RelayTemplate,
    private readonly dispatcher: Dispatcher,
  ) {
    const contentType = template.encoding === 'form' ? 'application/x-www-form-urlencoded' : 'application/json'
    this.headersWithBody = {'content-type': contentType, ...template.headers}
    this.sendsBody = template.method !== 'GET' && template.method !== 'HEAD'
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

  /** Sends the request with retries under the template's timeout; `call.cancel()` stops it at any point. */
  async call(prepared: PreparedCall, call: RelayCall): Promise<RelayCallResult> {
    const {template} = this
    const timer = setTimeout(cancelForTimeout, template.timeoutMs, call)
    const options: Dispatcher.DispatchOptions = {
      body: prepared.body,
      bodyTimeout: template.timeoutMs,
      headers: prepared.headers,
      headersTimeout: template.timeoutMs,
      method: template.method,
      origin: template.origin,
      path: prepared.path,
    }
    try {
      for (let attempt = 0; ; attempt++) {
        const outcome = await exchange(this.dispatcher, options, call, template.maxResponseBytes)
        if (call.cancelled) return this.cancelled(call.cancelled)
        const retry = attempt < template.retries
        if ('error' in outcome) {
          if (outcome.error === TOO_LARGE) return this.tooLarge(outcome.status!, outcome.headers!)
          if (retry && (await backoff(template.retryBackoffMs, attempt, call))) continue
          if (call.cancelled) return this.cancelled(call.cancelled)
          return failure(`${template.method} ${template.origin}: ${upstreamReason(outcome.error)}`)
        }

        const expected = template.expect.includes(outcome.status)
        if (!expected && retry && RETRY_STATUSES.has(outcome.status)) {
          if (await backoff(template.retryBackoffMs, attempt, call)) continue
          return this.cancelled(call.cancelled!)
        }

        const body = decodeBody(outcome.body, outcome.headers['content-type'])
        if (expected) return {headers: outcome.headers, httpStatus: outcome.status, ok: true, response: body}
        return {code: outcome.status >= 500 ? 'RW_ERR_REMOTE_5XX' : 'RW_ERR_REMOTE_4XX', headers: outcome.headers, httpStatus: outcome.status, ok: false, response: body}
      }
    } finally {
      clearTimeout(timer)
    }
  }

  private tooLarge(status: number, headers: ResponseHeaders): RelayCallResult {
    const error = `${this.template.method} ${this.template.origin}: response body over the ${this.template.maxResponseBytes} byte limit (max_response_bytes)`
    return {...failure(error), headers, httpStatus: status}
  }

  private cancelled(reason: CancelReason): RelayCallResult {
    if (reason === 'timeout') return failure(`${this.template.method} ${this.template.origin}: no complete answer within ${this.template.timeoutMs} ms (timeout)`, 'RW_ERR_TIMEOUT')
    return failure('cancelled: the client closed its connection', 'RW_ERR_CLOSED')
  }
}

function failure(error: string, code: ErrorCode = 'RW_ERR_RELAY_UPSTREAM'): RelayCallResult {
  return {code, ok: false, response: {code, error}}
}

function cancelForTimeout(call: RelayCall): void {
  call.cancel('timeout')
}

/** Waits base * 2^attempt (capped); false when the call was cancelled meanwhile. */
function backoff(baseMs: number, attempt: number, call: RelayCall): Promise<boolean> {
  if (call.cancelled) return Promise.resolve(false)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      call.wake = undefined
      resolve(true)
    }, Math.min(MAX_BACKOFF_MS, baseMs * 2 ** attempt))
    call.wake = () => {
      clearTimeout(timer)
      call.wake = undefined
      resolve(false)
    }
  })
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
