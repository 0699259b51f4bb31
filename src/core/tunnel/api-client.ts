// A client of the tunnel gateway's local HTTP API (http-api.ts) over undici: list the nodes, make one
// request to a node, follow a STREAM line by line. What `tunnel nodes` and `tunnel call` use; printing
// stays with the caller. Connection failures and timeouts become RW_ERR_CONNECT and RW_ERR_TIMEOUT.
import type {IncomingHttpHeaders} from 'node:http'
import type {Dispatcher} from 'undici'
import {PeerGoneError, RestwireError, TimeoutError, errnoCode} from '../errors.js'
import {STREAM_ERROR_TRAILER} from './http-stream.js'

export interface TunnelApiOptions {
  /** The gateway's HTTP API origin, as `tunnel gateway --http` serves it, e.g. http://127.0.0.1:8080. */
  gateway: string
  /** Bounds the whole exchange (for a stream: until its headers). */
  timeoutMs: number
  /** Aborts the request; a stream then ends without an error. */
  signal?: AbortSignal
  /** Makes the connections (default undici's global dispatcher). */
  dispatcher?: Dispatcher
}

/** A node as `GET /nodes` lists it. */
export interface TunnelApiNode {
  id: string
  fingerprint: string
  address: string
  /** ISO 8601. */
  connectedSince: string
  inFlight: number
}

export interface TunnelCallOptions extends TunnelApiOptions {
  node: string
  /** GET, POST, PATCH or DELETE (the gateway takes PUT as PATCH). */
  verb: string
  /** Starts with `/`; its query becomes the request's params. */
  path: string
  /** Sent as JSON (not with GET); undefined or null: no body. */
  body?: unknown
}

/** The node's answer, whatever its status (the gateway's own 404, 503, 504 included). */
export interface TunnelCallResponse {
  status: number
  headers: IncomingHttpHeaders
  /** The body as received. */
  bytes: Buffer
  /** The body as JSON; the text when it is not JSON; null when empty. */
  body: unknown
}

export type TunnelStreamOptions = Omit<TunnelCallOptions, 'verb' | 'body'>

/** How a stream that broke mid-way ended (the gateway's trailer; the last line repeats it). */
export interface TunnelStreamError {
  /** The status the node's error had; 502 when the trailer does not say. */
  status: number
  error: unknown
}

/** An open STREAM: `status` 200 and the items as lines, or another status and the answer in `body`. */
export interface TunnelStreamResponse {
  status: number
  headers: IncomingHttpHeaders
  /**
   * The NDJSON lines as they arrive, without their newline (a last line without one included). Ends when
   * the stream ends or the signal aborts; throws RW_ERR_CLOSED when the connection breaks off.
   */
  lines(): AsyncIterable<string>
  /** After lines() ended: why the stream broke off, if it did. */
  streamError(): TunnelStreamError | undefined
  /** The whole answer (for a status other than 200). */
  read(): Promise<Pick<TunnelCallResponse, 'body' | 'bytes'>>
}

/** The nodes connected to the gateway. A status other than 200 is RW_ERR_PROTOCOL. */
export async function listTunnelNodes(options: TunnelApiOptions): Promise<TunnelApiNode[]> {
  const response = await exchange(options, 'GET', '/nodes', {})
  const {body} = await readAll(response, options)
  if (response.statusCode !== 200 || !Array.isArray(body)) {
    throw new RestwireError('RW_ERR_PROTOCOL', `GET ${options.gateway}/nodes answered ${response.statusCode}: ${JSON.stringify(body)}`)
  }

  return body as TunnelApiNode[]
}

/** One request to a node through the gateway. */
export async function callTunnelNode(options: TunnelCallOptions): Promise<TunnelCallResponse> {
  const body = options.verb === 'GET' || options.body === undefined || options.body === null ? undefined : JSON.stringify(options.body)
  const response = await exchange(options, options.verb, nodeTarget(options), {body})
  return {headers: response.headers, status: response.statusCode, ...(await readAll(response, options))}
}

/** Follows a STREAM of a node as NDJSON. The timeout bounds the first answer only; a stream may run for ever. */
export async function openTunnelStream(options: TunnelStreamOptions): Promise<TunnelStreamResponse> {
  const response = await exchange(options, 'GET', nodeTarget(options), {accept: 'application/x-ndjson', streaming: true})
  let ended = false
  return {
    headers: response.headers,
    async *lines() {
      let pending = ''
      try {
        for await (const chunk of response.body) {
          pending += (chunk as Buffer).toString('utf8')
          let end = pending.indexOf('\n')
          while (end !== -1) {
            yield pending.slice(0, end)
            pending = pending.slice(end + 1)
            end = pending.indexOf('\n')
          }
        }
      } catch (error) {
        if (!options.signal?.aborted) throw new PeerGoneError(`the stream from the gateway broke off: ${(error as Error).message}`, {cause: error})
      }

      ended = true
      if (pending !== '') yield pending
    },
    read: () => readAll(response, options),
    status: response.statusCode,
    streamError: () => (ended && !options.signal?.aborted ? parseStreamError(response.trailers[STREAM_ERROR_TRAILER]) : undefined),
  }
}

function nodeTarget(options: {node: string; path: string}): string {
  return `/nodes/${encodeURIComponent(options.node)}${options.path}`
}

function parseStreamError(trailer: string | string[] | undefined): TunnelStreamError | undefined {
  if (typeof trailer !== 'string') return undefined
  let record: {error?: unknown; status?: unknown}
  try {
    record = JSON.parse(trailer) as typeof record
  } catch {
    // A trailer that is not JSON: the gateway's default status for a broken stream.
    record = {error: trailer}
  }

  return {error: record.error, status: typeof record.status === 'number' ? record.status : 502}
}

async function exchange(options: TunnelApiOptions, method: string, path: string, request: {body?: string; accept?: string; streaming?: boolean}): Promise<Dispatcher.ResponseData> {
  const {request: send} = await import('undici')
  const headers: Record<string, string> = {accept: request.accept ?? 'application/json'}
  if (request.body !== undefined) headers['content-type'] = 'application/json'
  const timeout = AbortSignal.timeout(options.timeoutMs)
  try {
    return await send(options.gateway + path, {
      body: request.body,
      bodyTimeout: request.streaming ? 0 : options.timeoutMs,
      dispatcher: options.dispatcher,
      headers,
      headersTimeout: options.timeoutMs,
      method: method as Dispatcher.HttpMethod,
      // A stream is bounded by headersTimeout alone: the timer would end it later.
      signal: request.streaming ? options.signal : options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
    })
  } catch (error) {
    throw requestError(error, options)
  }
}

async function readAll(response: Dispatcher.ResponseData, options: TunnelApiOptions): Promise<{bytes: Buffer; body: unknown}> {
  let bytes: Buffer
  try {
    bytes = Buffer.from(await response.body.arrayBuffer())
  } catch (error) {
    throw requestError(error, options)
  }

  const text = bytes.toString('utf8')
  if (text === '') return {body: null, bytes}
  try {
    return {body: JSON.parse(text), bytes}
  } catch {
    return {body: text, bytes}
  }
}

function requestError(error: unknown, {gateway, timeoutMs}: TunnelApiOptions): RestwireError {
  const code = errnoCode(error) ?? (error as {code?: string}).code
  const name = (error as Error).name
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || name === 'TimeoutError') {
    return new TimeoutError(`no answer from the gateway at ${gateway} within ${timeoutMs} ms`, {cause: error, timeoutMs})
  }

  const reason = code === 'ECONNREFUSED' ? 'connection refused' : (error as Error).message
  return new RestwireError('RW_ERR_CONNECT', `cannot reach the gateway's HTTP API at ${gateway}: ${reason}`, {
    cause: error,
    hint: 'Is `restwire tunnel gateway` running, and is --to its --http address?',
  })
}
