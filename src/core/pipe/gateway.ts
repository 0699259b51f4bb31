// The local HTTP gateway of a hub or a node: turns `METHOD /client/<node>/<noun>[//args]` (hub) or
// `METHOD /server/<noun>[//args]` (node) into one event, streams the request body into it and the reply
// body back, with the reply's code in X-Event-Return-Code. node:http, because it is the fast path.
import {type IncomingMessage, type Server, type ServerResponse, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {pipeline} from 'node:stream/promises'
import {RestwireError} from '../errors.js'
import {CallAbort} from './call-signal.js'
import {stringifyJson} from '../json.js'
import {listenOn} from '../listen.js'
import type {PipeHubHandle} from './hub.js'
import {EVENT_RETURN_CODE_HEADER, errorText} from './messages.js'
import type {PipeNodeHandle} from './node.js'
import type {PipeEvent, PipeReply, SendOptions} from './session.js'
import {Reply} from './stream.js'

import {DEFAULT_EVENT_TIMEOUT_MS, DEFAULT_HUB_HTTP_PORT, DEFAULT_NODE_HTTP_PORT} from './defaults.js'
import {withAsyncDispose} from '../dispose.js'
import {type ObserveEndpoints, answerObserveRequest} from '../observe/http.js'

export {DEFAULT_EVENT_TIMEOUT_MS, DEFAULT_HUB_HTTP_PORT, DEFAULT_NODE_HTTP_PORT} from './defaults.js'
const DRAIN_MS = 5000
/** A client must send its request headers within this time (slowloris), and the whole request within the next. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000

export type PipeGatewayTarget = {kind: 'hub'; hub: PipeHubHandle} | {kind: 'node'; node: PipeNodeHandle}

export interface PipeGatewayOptions {
  /** Default 127.0.0.1: the gateway has no authentication of its own, so it stays on loopback unless told. */
  host?: string
  port?: number
  /** Bound on the time until a reply starts; then 504. */
  timeoutMs?: number
  /** Bound on receiving a request's headers (default 10 s), then on the whole request (default 300 s). */
  headersTimeoutMs?: number
  requestTimeoutMs?: number
  /** The inspector page and its routes (`/`, `/inspect/...`), served before the gateway's own routes. */
  inspector?: {handle(req: IncomingMessage, res: ServerResponse): boolean}
  /** GET /metrics, /healthz and /readyz on this port (docs/metrics.md). */
  observe?: ObserveEndpoints
}

export interface PipeGatewayHandle extends AsyncDisposable {
  address: AddressInfo
  url: string
  /** Stops listening; lets exchanges in flight finish for a few seconds. Safe twice. */
  close(): Promise<void>
}

export async function startPipeGateway(target: PipeGatewayTarget, options: PipeGatewayOptions = {}): Promise<PipeGatewayHandle> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? (target.kind === 'hub' ? DEFAULT_HUB_HTTP_PORT : DEFAULT_NODE_HTTP_PORT)
  const timeoutMs = options.timeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS
  const active = new Set<Promise<void>>()
  const server: Server = createServer({
    // Node checks the two timeouts below only this often (30 s by default).
    connectionsCheckingInterval: 1000,
    headersTimeout: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
    requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  }, (req, res) => {
    // For their whole life: a client that resets mid-body or mid-reply must not crash the process.
    req.on('error', () => {})
    res.on('error', () => {})
    if (options.inspector?.handle(req, res)) return
    if (options.observe && answerObserveRequest(options.observe, req, res)) return
    const done = handle(target, req, res, timeoutMs)
      .catch((error: unknown) => sendError(res, error))
      .catch(() => void res.destroy())
    active.add(done)
    void done.finally(() => active.delete(done))
  })
  await listenOn(server, host, port, 'HTTP')

  const address = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  const shutdown = async (): Promise<void> => {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled([...active]), new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)))])
    clearTimeout(timer)
    server.closeAllConnections()
    await stopped
  }

  return withAsyncDispose<PipeGatewayHandle>({
    address,
    close: () => (closing ??= shutdown()),
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
  })
}

async function handle(target: PipeGatewayTarget, req: IncomingMessage, res: ServerResponse, timeoutMs: number): Promise<void> {
  // The raw path, not new URL(): URL parsing would resolve `..` before the handler could refuse it.
  const raw = req.url ?? '/'
  const path = raw.includes('?') ? raw.slice(0, raw.indexOf('?')) : raw
  if (target.kind === 'hub' && (path === '/nodes' || path === '/nodes/')) {
    if (req.method !== 'GET') return sendJson(res, 405, {error: 'use GET /nodes'}, {allow: 'GET'})
    const cluster = target.hub.cluster()
    // In a cluster, the state travels with the list: a degraded hub lists only its own nodes.
    return sendJson(res, 200, cluster ? {cluster, nodes: target.hub.nodes()} : target.hub.nodes())
  }

  const prefix = target.kind === 'hub' ? /^\/client\/([^/]+)\/(.+)$/ : /^\/server\/(.+)$/
  const match = prefix.exec(path)
  if (!match) {
    const usage = target.kind === 'hub' ? 'GET /nodes or METHOD /client/<node>/<noun>[//args]' : 'METHOD /server/<noun>[//args]'
    return sendJson(res, 404, {error: `no such endpoint: ${path}; use ${usage}`})
  }

  const node = target.kind === 'hub' ? decode(match[1]!) : undefined
  const {args, noun} = parseNounPath(match[target.kind === 'hub' ? 2 : 1]!)
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined
  // A body the peer stops reading (it answered early) must not destroy the request: that would reset
  // the socket under the answer. The connection is closed after the answer instead (see below).
  const body = hasBody ? {[Symbol.asyncIterator]: () => req.iterator({destroyOnReturn: false}) as AsyncIterator<Buffer>} : undefined
  const event: PipeEvent = {args, body, contentType: req.headers['content-type'], noun, verb: req.method ?? 'GET'}
  // The HTTP client going away ends the event on the peer too. A CallAbort, not an AbortController (one
  // per request was a visible share of the hub's CPU); a listener that throws is a bug, thrown as the
  // EventTarget would (an uncaught exception), not swallowed.
  const signal = new CallAbort((error) => queueMicrotask(() => {
    throw error
  }))
  res.once('close', () => {
    if (!res.writableFinished) signal.abort()
  })
  const sendOptions: SendOptions = {signal, timeoutMs}
  const reply: PipeReply = target.kind === 'hub' ? await target.hub.request(node!, event, sendOptions) : await target.node.request(event, sendOptions)
  // An unread rest of the request body would stall the next request on a kept-alive connection.
  if (hasBody && !req.complete) res.setHeader('connection', 'close')
  // A reply that came whole (one frame from the node, or one message from another hub) is written
  // as is, with its length: no stream, no pipeline() with its AbortController and the DOMException
  // it makes at the end of every response (about 15% of a hub's CPU per small event).
  const whole = reply instanceof Reply ? reply.wholeBody() : undefined
  if (whole) {
    res.writeHead(200, {'content-type': reply.contentType, [EVENT_RETURN_CODE_HEADER]: String(reply.code), 'content-length': whole.byteLength})
    res.end(whole)
    // Until the answer is out, for close()'s drain (the response closes once written, or when the client goes away).
    if (!res.writableFinished && !res.destroyed) await new Promise<void>((resolve) => res.once('close', resolve))
    return
  }

  res.writeHead(200, {'content-type': reply.contentType, [EVENT_RETURN_CODE_HEADER]: String(reply.code)})
  try {
    await pipeline(reply.body, res)
  } catch {
    // Headers are out: the only way to say "broken" is to cut the response short.
    res.destroy()
  }
}

/** `time/utc//a/b%20c` → noun `time/utc`, args `a`, `b c`. Percent-decoding happens per segment. */
export function parseNounPath(rest: string): {noun: string; args: string[]} {
  const split = rest.indexOf('//')
  const nounPart = split === -1 ? rest : rest.slice(0, split)
  const argsPart = split === -1 ? undefined : rest.slice(split + 2)
  const noun = nounPart.split('/').filter((segment) => segment !== '').map(decode).join('/')
  if (noun === '') throw new RestwireError('RW_ERR_USAGE', 'the path names no noun', {status: 400})
  return {args: argsPart === undefined ? [] : argsPart.split('/').map(decode), noun}
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `bad percent-encoding in "${segment}"`, {cause: error, status: 400})
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy()
    return
  }

  let text: string
  let code = status
  try {
    text = stringifyJson(body, 'the answer')
  } catch (error) {
    code = 500
    text = stringifyJson({code: 'RW_ERR_JSON', error: (error as Error).message})
  }

  res.writeHead(code, {...headers, 'content-length': Buffer.byteLength(text), 'content-type': 'application/json'})
  res.end(text)
}

/** 404 unknown node, 503 not connected (or connection lost), 504 no reply in time, 400 bad path. */
function sendError(res: ServerResponse, error: unknown): void {
  if (!(error instanceof RestwireError)) return sendJson(res, 500, {code: 'RW_ERR_INTERNAL', error: errorText(error)})
  const status = error.status !== undefined && error.status >= 400 && error.status <= 599 ? error.status : 502
  // A client that went away gets nothing; the body may not have been read to the end: do not reuse.
  if (status === 499) return void res.destroy()
  res.setHeader('connection', 'close')
  sendJson(res, status, {code: error.code, error: error.message})
}
