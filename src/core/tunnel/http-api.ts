// The gateway's local HTTP API: `GET /nodes`, `METHOD /nodes/<id>/<path>` as one tunnel request, and
// STREAMs as NDJSON or SSE, so that curl (or any HTTP client) can call the connected nodes.
import {type IncomingMessage, type Server, type ServerResponse, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {RestwireError, StatusError} from '../errors.js'
import {stringifyJson} from '../json.js'
import {settleWithin} from '../link/streams.js'
import {listenOn} from '../listen.js'
import {parseQuery} from '../message/request.js'
import type {TunnelGatewayHandle, TunnelVerb} from './gateway.js'
import {DEFAULT_HTTP_API_PORT, DEFAULT_HTTP_MAX_CONNECTIONS} from './defaults.js'
import {DEFAULT_STREAM_STALL_MS} from './gateway-session.js'
import {type StreamFormat, pipeTunnelStream, streamFormat} from './http-stream.js'
import {withAsyncDispose} from '../dispose.js'
import {type ObserveEndpoints, answerObserveRequest} from '../observe/http.js'

export {DEFAULT_HTTP_API_PORT} from './defaults.js'
export const DEFAULT_HTTP_MAX_BODY_BYTES = 16 * 1024 * 1024
/** On close(), how long plain requests in flight may still finish before their connections are cut. */
export const DEFAULT_HTTP_DRAIN_MS = 5000

export interface TunnelHttpApiOptions {
  /** Default 127.0.0.1: the API has no authentication of its own, so it stays on loopback unless told. */
  host?: string
  /** Default 8080; 0 picks a free port. */
  port?: number
  /** Largest request body; larger is 413. Default 16 MiB. */
  maxBodyBytes?: number
  /** HTTP connections open at once; beyond it new ones are closed on accept. Default 1024. */
  maxConnections?: number
  /** A STREAM's client that takes nothing written to it for this long is disconnected. Default 60 s. */
  sendTimeoutMs?: number
  drainMs?: number
  /** The inspector page and its routes (`/`, `/inspect/...`), served before the API's own routes. */
  inspector?: {handle(req: IncomingMessage, res: ServerResponse): boolean}
  /** GET /metrics, /healthz and /readyz on this port (docs/metrics.md). */
  observe?: ObserveEndpoints
}

export interface TunnelHttpApiHandle extends AsyncDisposable {
  address: AddressInfo
  /** Stops listening, ends streams (sending CANCEL), lets plain requests finish for drainMs. Safe twice. */
  close(): Promise<void>
}

const VERBS: Record<string, TunnelVerb> = {DELETE: 'DELETE', GET: 'GET', PATCH: 'PATCH', POST: 'POST', PUT: 'PATCH'}
const ALLOW = 'GET, POST, PUT, PATCH, DELETE'
/** Errors without an HTTP status of their own. */
const ERROR_STATUS: Partial<Record<string, number>> = {RW_ERR_CLOSED: 503, RW_ERR_NODE_UNKNOWN: 404, RW_ERR_TIMEOUT: 504, RW_ERR_USAGE: 400}

export async function startTunnelHttpApi(gateway: TunnelGatewayHandle, options: TunnelHttpApiOptions = {}): Promise<TunnelHttpApiHandle> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? DEFAULT_HTTP_API_PORT
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_HTTP_MAX_BODY_BYTES
  const active = new Set<Promise<void>>()
  const streams = new Set<() => void>()
  const server: Server = createServer((req, res) => {
    // A client may reset mid-request or mid-answer: both ends of the exchange keep an error listener.
    req.on('error', () => {})
    res.on('error', () => {})
    if (options.inspector?.handle(req, res)) return
    if (options.observe && answerObserveRequest(options.observe, req, res)) return
    const done = handle(gateway, req, res, {maxBodyBytes, sendTimeoutMs: options.sendTimeoutMs, streams}).catch((error: unknown) => sendError(res, error))
    active.add(done)
    void done.finally(() => active.delete(done))
  })
  server.maxConnections = options.maxConnections ?? DEFAULT_HTTP_MAX_CONNECTIONS
  server.on('connection', (socket) => socket.on('error', () => {}))
  await listenOn(server, host, port, 'HTTP')
  // Accept errors after listening (EMFILE under a flood) must not end the process.
  server.on('error', () => {})

  let closing: Promise<void> | undefined
  const shutdown = async (): Promise<void> => {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const end of streams) end()
    await settleWithin(Promise.allSettled([...active]), options.drainMs ?? DEFAULT_HTTP_DRAIN_MS)
    server.closeAllConnections()
    await stopped
  }

  return withAsyncDispose<TunnelHttpApiHandle>({
    address: server.address() as AddressInfo,
    close: () => (closing ??= shutdown()),
  })
}

interface HandleContext {
  maxBodyBytes: number
  sendTimeoutMs: number | undefined
  /** Enders of the streams being served, for close(). */
  streams: Set<() => void>
}

async function handle(gateway: TunnelGatewayHandle, req: IncomingMessage, res: ServerResponse, context: HandleContext): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://gateway')
  const method = req.method ?? 'GET'
  if (url.pathname === '/nodes' || url.pathname === '/nodes/') {
    if (method !== 'GET') return sendMethodNotAllowed(res, 'GET')
    // In a cluster each node also names the gateway holding it.
    const nodes = gateway.nodes().map(({address, connectedSince, fingerprint, gateway: holder, id, inFlight}) => ({address, connectedSince: connectedSince.toISOString(), fingerprint, id, inFlight, ...(holder ? {gateway: holder} : {})}))
    return sendJson(res, 200, nodes)
  }

  const match = /^\/nodes\/([^/]+)(\/.*)?$/.exec(url.pathname)
  if (!match) return sendJson(res, 404, {error: `no such endpoint: ${url.pathname}; use GET /nodes, METHOD /nodes/<id>/<path>, or GET /metrics, /healthz, /readyz`})
  const verb = VERBS[method]
  if (!verb) return sendMethodNotAllowed(res, ALLOW)
  const nodeId = decodeSegment(match[1]!)
  const path = (match[2] ?? '/').split('/').map(decodeSegment).join('/')
  const params = url.search.length > 1 ? parseQuery(url.search.slice(1)) : undefined

  const format = verb === 'GET' ? streamFormat(req.headers.accept) : undefined
  if (format) return serveStream(gateway, res, {format, nodeId, params, path}, context)

  const data = await readJsonBody(req, context.maxBodyBytes)
  const {body, status} = await gateway.request(nodeId, verb, path, {data, params})
  sendJson(res, status, body)
}

async function serveStream(
  gateway: TunnelGatewayHandle,
  res: ServerResponse,
  request: {format: StreamFormat; nodeId: string; path: string; params: Record<string, unknown> | undefined},
  context: HandleContext,
): Promise<void> {
  // A remote reader that stops reading loses its stream rather than keep the node paused for every caller.
  const stream = gateway.stream(request.nodeId, request.path, {params: request.params, stallMs: DEFAULT_STREAM_STALL_MS})
  const end = (): void => void stream.cancel()
  context.streams.add(end)
  try {
    const opened = await pipeTunnelStream(stream, res, request.format, context.sendTimeoutMs)
    if (!opened.ok) sendError(res, opened.error)
  } finally {
    context.streams.delete(end)
  }
}

/** The JSON request body as `data`: undefined when empty; 400 when not JSON, 413 when over the limit. */
async function readJsonBody(req: IncomingMessage, maxBodyBytes: number): Promise<unknown> {
  const tooLarge = (): RestwireError =>
    new RestwireError('RW_ERR_FRAME_TOO_LARGE', `the request body is larger than ${maxBodyBytes} bytes`, {status: 413})
  if (Number(req.headers['content-length'] ?? 0) > maxBodyBytes) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBodyBytes) throw tooLarge()
    chunks.push(chunk)
  }

  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `the request body is not valid JSON: ${(error as Error).message}`, {cause: error, status: 400})
  }
}

/** Percent-decodes one path segment, unless that would make a `/` or `?` that changes how the path splits. */
function decodeSegment(segment: string): string {
  try {
    const decoded = decodeURIComponent(segment)
    return /[/?]/.test(decoded) ? segment : decoded
  } catch {
    return segment
  }
}

function sendMethodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow)
  sendJson(res, 405, {error: `method not allowed; use ${allow}`})
}

/** Never throws: a body that cannot be written as JSON (a node's 100,000-deep answer) becomes a 502. */
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) {
    res.end()
    return
  }

  let text: string
  try {
    text = stringifyJson(body === undefined ? null : body, "the node's answer")
  } catch (error) {
    status = 502
    text = JSON.stringify({code: (error as RestwireError).code, error: (error as Error).message})
  }

  res.writeHead(status, {'content-length': Buffer.byteLength(text), 'content-type': 'application/json'})
  res.end(text)
}

/** A node's 4xx/5xx keeps its status and body; other failures become `{"error", "code"}` with a fitting status. */
export function sendError(res: ServerResponse, error: unknown): void {
  if (!(error instanceof RestwireError)) {
    sendJson(res, 500, {code: 'RW_ERR_INTERNAL', error: String((error as Error)?.message ?? error)})
    return
  }

  const status = errorStatus(error)
  if (error instanceof StatusError && status === error.status) return sendJson(res, status, error.body)

  // The body was not read to the end: do not keep the connection for a next request.
  if (status === 413) res.setHeader('connection', 'close')
  const connected = error.code === 'RW_ERR_NODE_UNKNOWN' ? error.details?.connected : undefined
  sendJson(res, status, connected === undefined ? {code: error.code, error: error.message} : {code: error.code, connected, error: error.message})
}

export function errorStatus(error: RestwireError): number {
  const {status} = error
  if (status !== undefined && Number.isInteger(status) && status >= 400 && status <= 599) return status
  return ERROR_STATUS[error.code] ?? 502
}
