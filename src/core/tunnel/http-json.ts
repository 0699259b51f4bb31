// The tunnel HTTP API's plain JSON exchange, built for its hot path: the request body read with
// 'data'/'end' listeners (no async iterator, no promise), the answer written with one res.end() of a
// string with its Content-Length (no chunked encoding, no stream teardown).
import type {IncomingMessage, ServerResponse} from 'node:http'
import {PeerGoneError, RestwireError, StatusError} from '../errors.js'
import {stringifyJson} from '../json.js'

/** Errors without an HTTP status of their own. */
const ERROR_STATUS: Partial<Record<string, number>> = {RW_ERR_CLOSED: 503, RW_ERR_NODE_UNKNOWN: 404, RW_ERR_TIMEOUT: 504, RW_ERR_USAGE: 400}

export type BodyCallback = (error: RestwireError | undefined, data?: unknown) => void

/**
 * Reads the request body as JSON `data` and calls `done` exactly once: undefined data when the body is
 * empty, 400 when it is not JSON, 413 when it is over `maxBodyBytes` (the rest is then discarded
 * unread and the answer closes the connection), RW_ERR_CLOSED when the client goes away first.
 */
export function readJsonBody(req: IncomingMessage, maxBodyBytes: number, done: BodyCallback): void {
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > maxBodyBytes) return done(tooLarge(maxBodyBytes))
  // Most bodies arrive in one chunk: no array until a second one comes.
  let first: Buffer | undefined
  let more: Buffer[] | undefined
  let size = 0
  let settled = false
  const settle = (error: RestwireError | undefined, data?: unknown): void => {
    if (settled) return
    settled = true
    req.off('data', onData)
    req.off('end', onEnd)
    req.off('close', onClose)
    done(error, data)
  }

  const onData = (chunk: Buffer): void => {
    size += chunk.length
    if (size > maxBodyBytes) settle(tooLarge(maxBodyBytes))
    else if (first === undefined) first = chunk
    else (more ??= [first]).push(chunk)
  }

  const onEnd = (): void => {
    const body = more ? Buffer.concat(more, size) : first
    if (body === undefined) return settle(undefined, undefined)
    let data: unknown
    try {
      data = parseBody(body.toString('utf8'))
    } catch (error) {
      return settle(error as RestwireError)
    }

    settle(undefined, data)
  }

  // 'close' before 'end': the client reset or went away mid-body.
  const onClose = (): void => settle(new PeerGoneError('the HTTP client went away before its request body ended'))
  req.on('data', onData)
  req.on('end', onEnd)
  req.on('close', onClose)
}

/** A request body's JSON: undefined when empty or all whitespace, a 400 RestwireError when not JSON. */
export function parseBody(text: string): unknown {
  // Cheap check first: only an all-whitespace body needs trim()'s copy to be told from JSON.
  if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) return undefined
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `the request body is not valid JSON: ${(error as Error).message}`, {cause: error, status: 400})
  }
}

function tooLarge(maxBodyBytes: number): RestwireError {
  return new RestwireError('RW_ERR_FRAME_TOO_LARGE', `the request body is larger than ${maxBodyBytes} bytes`, {status: 413})
}

/** An answer's status, JSON text and extra header pairs, for node:http (sendJson) and the hot path (http-fast.ts) alike. */
export interface JsonAnswer {
  status: number
  text: string
  headers?: string[]
}

/** `body` as JSON text; a body that cannot be written as JSON (a node's 100,000-deep answer) becomes a 502. */
export function jsonAnswer(status: number, body: unknown, extraHeaders?: string[]): JsonAnswer {
  try {
    return {headers: extraHeaders, status, text: stringifyJson(body === undefined ? null : body, "the node's answer")}
  } catch (error) {
    return {headers: extraHeaders, status: 502, text: JSON.stringify({code: (error as RestwireError).code, error: (error as Error).message})}
  }
}

/** A node's 4xx/5xx keeps its status and body; other failures become `{"error", "code"}` with a fitting status. */
export function errorAnswer(error: unknown): JsonAnswer {
  if (!(error instanceof RestwireError)) return jsonAnswer(500, {code: 'RW_ERR_INTERNAL', error: String((error as Error)?.message ?? error)})
  const status = errorStatus(error)
  if (error instanceof StatusError && status === error.status) return jsonAnswer(status, error.body)
  // The body was not read to the end: do not keep the connection for a next request.
  const extra = status === 413 ? ['connection', 'close'] : undefined
  const connected = error.code === 'RW_ERR_NODE_UNKNOWN' ? error.details?.connected : undefined
  return jsonAnswer(status, connected === undefined ? {code: error.code, error: error.message} : {code: error.code, connected, error: error.message}, extra)
}

/**
 * The whole answer in one res.end(): status line, headers and body leave in one socket write. Never
 * throws: a body that cannot be written as JSON becomes a 502.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, extraHeaders?: string[]): void {
  sendAnswer(res, jsonAnswer(status, body, extraHeaders))
}

/** A node's 4xx/5xx keeps its status and body; other failures become `{"error", "code"}` with a fitting status. */
export function sendError(res: ServerResponse, error: unknown): void {
  sendAnswer(res, errorAnswer(error))
}

/** One answer in one res.end(); nothing (but ending it) when the response has started or the client is gone. */
export function sendAnswer(res: ServerResponse, answer: JsonAnswer): void {
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.end()
    return
  }

  // A flat array of raw header pairs: Node takes it as is, without building and walking an object.
  const headers = ['content-length', String(Buffer.byteLength(answer.text)), 'content-type', 'application/json']
  if (answer.headers) headers.push(...answer.headers)
  res.writeHead(answer.status, headers)
  res.end(answer.text)
}

export function errorStatus(error: RestwireError): number {
  const {status} = error
  if (status !== undefined && Number.isInteger(status) && status >= 400 && status <= 599) return status
  return ERROR_STATUS[error.code] ?? 502
}
