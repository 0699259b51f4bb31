// A client of a pipe gateway (gateway.ts, a hub's or a node's local HTTP side) over undici: one event
// out, its reply back with the HTTP status, the event's return code and the body as a stream. What
// `pipe call` uses; printing, prompts and progress stay with the caller.
import type {IncomingHttpHeaders} from 'node:http'
import type {Readable} from 'node:stream'
import type {Dispatcher} from 'undici'
import {RestwireError, TimeoutError, errnoCode} from '../errors.js'
import {EVENT_RETURN_CODE_HEADER} from './messages.js'

export interface PipeGatewayCallOptions {
  /** The gateway's origin, e.g. http://127.0.0.1:8090 (a hub's) or :8091 (a node's). */
  gateway: string
  /** Any word: GET, POST, PUT... */
  verb: string
  /** Through a hub `/client/<node>/<noun>/<args>...`, through a node `/server/<noun>/<args>...`. */
  path: string
  /** Sent as it is; a stream is sent as it is read (binary-safe). */
  body?: string | Buffer | Readable
  contentType?: string
  /** The event timeout of the gateway: its 504 comes first, this bounds the wait for the reply's headers. */
  timeoutMs: number
  signal?: AbortSignal
  /** Makes the connections (default undici's global dispatcher). */
  dispatcher?: Dispatcher
}

export interface PipeGatewayReply {
  /** 200 when the peer answered (whatever its code); the gateway's 400, 404, 502, 503 or 504 otherwise. */
  status: number
  /** The handler's return code (0 ok, 255 no handler, 251 raised...), null when the gateway gave no answer of a peer. */
  code: number | null
  contentType: string
  headers: IncomingHttpHeaders
  /** The reply body as it arrives (read it to the end, or destroy it); `.text()`, `.json()`, `.arrayBuffer()`. */
  body: Dispatcher.ResponseData['body']
}

/** Sends one event through the gateway; resolves once the reply's headers are in. */
export async function callPipeGateway(options: PipeGatewayCallOptions): Promise<PipeGatewayReply> {
  const {request} = await import('undici')
  let response: Dispatcher.ResponseData
  try {
    response = await request(options.gateway + options.path, {
      body: options.body,
      // A reply body may stream for as long as the peer sends it.
      bodyTimeout: 0,
      dispatcher: options.dispatcher,
      headers: options.contentType ? {'content-type': options.contentType} : {},
      // The gateway answers 504 at timeoutMs; the second more lets that answer arrive.
      headersTimeout: options.timeoutMs + 1000,
      method: options.verb as Dispatcher.HttpMethod,
      signal: options.signal,
    })
  } catch (error) {
    throw requestError(error, options)
  }

  const header = response.headers[EVENT_RETURN_CODE_HEADER]
  return {
    body: response.body,
    code: header === undefined ? null : Number(header),
    contentType: String(response.headers['content-type'] ?? 'application/octet-stream'),
    headers: response.headers,
    status: response.statusCode,
  }
}

function requestError(error: unknown, {gateway, timeoutMs}: PipeGatewayCallOptions): RestwireError {
  const code = errnoCode(error) ?? (error as {code?: string}).code
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new TimeoutError(`no answer from the gateway at ${gateway} within ${timeoutMs} ms`, {cause: error, timeoutMs})
  const reason = code === 'ECONNREFUSED' ? 'connection refused' : (error as Error).message
  return new RestwireError('RW_ERR_CONNECT', `cannot reach the pipe gateway at ${gateway}: ${reason}`, {
    cause: error,
    hint: 'Is `restwire pipe serve` or `pipe connect` running, and is --to its --http address?',
  })
}
