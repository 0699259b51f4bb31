// One configured request made executable: builds the HTTP request from params and data, sends it on an
// undici dispatcher with timeout, retries (idempotent methods only) and a bounded response body, and
// turns the outcome into a final reply. Never throws: every failure is an error reply with a code.
import {setTimeout as sleep} from 'node:timers/promises'
import type {Dispatcher} from 'undici'
import type {ErrorCode} from '../errors.js'
import type {RelayTemplate} from './config.js'
import {type Params, PlaceholderError, fillTemplate, paramValue} from './url-template.js'

/** Upstream statuses worth another attempt (when not expected and retries remain). */
const RETRY_STATUSES = new Set([502, 503, 504])
const MAX_BACKOFF_MS = 5000

/** The abort reason when a request's own timeout fires (any other reason: the client went away). */
export const TIMEOUT_REASON = Symbol('relay timeout')

export interface PreparedCall {
  path: string
  body: string | undefined
  headers: Record<string, string>
}

export interface RelayCallResult {
  ok: boolean
  response: unknown
  httpStatus?: number
  headers?: Record<string, string | string[] | undefined>
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

  /** Throws RelayInputError for input the template cannot take. */
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
      return {body: template.encoding === 'form' ? encodeForm(data) : JSON.stringify(data), headers: this.headersWithBody, path}
    } catch (error) {
      if (error instanceof PlaceholderError) throw new RelayInputError(`request "${template.name}": ${error.message}`)
      throw error
    }
  }

  /** Sends the request; `controller` is aborted when the client goes away, or with TIMEOUT_REASON by the timer set here. */
  async call(prepared: PreparedCall, controller: AbortController): Promise<RelayCallResult> {
    const {template} = this
    const timer = setTimeout(abortWithTimeout, template.timeoutMs, controller)
    try {
      for (let attempt = 0; ; attempt++) {
        const retry = attempt < template.retries
        let response: Dispatcher.ResponseData
        try {
          response = await this.dispatcher.request({
            body: prepared.body,
            bodyTimeout: template.timeoutMs,
            headers: prepared.headers,
            headersTimeout: template.timeoutMs,
            method: template.method,
            origin: template.origin,
            path: prepared.path,
            signal: controller.signal,
          })
        } catch (error) {
          if (controller.signal.aborted) return this.aborted(controller.signal)
          if (retry && (await backoff(template.retryBackoffMs, attempt, controller.signal))) continue
          if (controller.signal.aborted) return this.aborted(controller.signal)
          return {code: 'RW_ERR_RELAY_UPSTREAM', ok: false, response: {code: 'RW_ERR_RELAY_UPSTREAM', error: `${template.method} ${template.origin}: ${upstreamReason(error)}`}}
        }

        const expected = template.expect.includes(response.statusCode)
        if (!expected && retry && RETRY_STATUSES.has(response.statusCode)) {
          discard(response)
          if (await backoff(template.retryBackoffMs, attempt, controller.signal)) continue
          return this.aborted(controller.signal)
        }

        return await this.readResponse(response, expected, controller.signal)
      }
    } finally {
      clearTimeout(timer)
    }
  }

  private async readResponse(response: Dispatcher.ResponseData, expected: boolean, signal: AbortSignal): Promise<RelayCallResult> {
    const limit = this.template.maxResponseBytes
    const {headers, statusCode} = response
    const declared = Number(headers['content-length'] ?? 0)
    const tooLarge = (): RelayCallResult => {
      discard(response)
      const error = `${this.template.method} ${this.template.origin}: response body over the ${limit} byte limit (max_response_bytes)`
      return {code: 'RW_ERR_RELAY_UPSTREAM', headers, httpStatus: statusCode, ok: false, response: {code: 'RW_ERR_RELAY_UPSTREAM', error}}
    }

    if (declared > limit) return tooLarge()
    const chunks: Buffer[] = []
    let size = 0
    try {
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length
        if (size > limit) return tooLarge()
        chunks.push(chunk as Buffer)
      }
    } catch (error) {
      if (signal.aborted) return this.aborted(signal)
      return {code: 'RW_ERR_RELAY_UPSTREAM', headers, httpStatus: statusCode, ok: false, response: {code: 'RW_ERR_RELAY_UPSTREAM', error: `${this.template.method} ${this.template.origin}: the response body broke off: ${upstreamReason(error)}`}}
    }

    const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8')
    const body = decodeBody(text, headers['content-type'])
    if (expected) return {headers, httpStatus: statusCode, ok: true, response: body}
    return {code: statusCode >= 500 ? 'RW_ERR_REMOTE_5XX' : 'RW_ERR_REMOTE_4XX', headers, httpStatus: statusCode, ok: false, response: body}
  }

  private aborted(signal: AbortSignal): RelayCallResult {
    if (signal.reason === TIMEOUT_REASON) {
      const error = `${this.template.method} ${this.template.origin}: no complete answer within ${this.template.timeoutMs} ms (timeout)`
      return {code: 'RW_ERR_TIMEOUT', ok: false, response: {code: 'RW_ERR_TIMEOUT', error}}
    }

    return {code: 'RW_ERR_CLOSED', ok: false, response: {code: 'RW_ERR_CLOSED', error: 'cancelled: the client closed its connection'}}
  }
}

/** Drops a response body we will not read (undici's body errors with AbortError on destroy: nobody listens). */
function discard(response: Dispatcher.ResponseData): void {
  response.body.on('error', ignore)
  response.body.destroy()
}

function ignore(): void {}

function abortWithTimeout(controller: AbortController): void {
  controller.abort(TIMEOUT_REASON)
}

/** Waits base * 2^attempt (capped); false when aborted meanwhile. */
async function backoff(baseMs: number, attempt: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(Math.min(MAX_BACKOFF_MS, baseMs * 2 ** attempt), undefined, {signal})
    return true
  } catch {
    return false
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
    if (Array.isArray(value)) for (const item of value) form.append(key, String(item))
    else if (value !== undefined && value !== null) form.append(key, typeof value === 'object' ? JSON.stringify(value) : String(value))
  }

  return form.toString()
}

function decodeBody(text: string, contentType: string | string[] | undefined): unknown {
  if (text === '') return null
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
