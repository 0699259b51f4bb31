// The gateway's local HTTP API: `GET /nodes`, `METHOD /nodes/<id>/<path>` as one tunnel request, and
// STREAMs as NDJSON or SSE, so that curl (or any HTTP client) can call the connected nodes. Plain JSON
// requests to /nodes... take the hot path of http-fast.ts (a strict HTTP/1.1 reader on the raw socket,
// no node:http objects); everything else (streams, the inspector, /metrics, chunked bodies, Expect,
// anything unusual) is served by node:http on the same port, with the answers of http-json.ts.
import {type IncomingMessage, type Server, type ServerResponse, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {settleWithin} from '../link/streams.js'
import {listenOn} from '../listen.js'
import {parseQuery} from '../message/request.js'
import type {TunnelGatewayHandle, TunnelVerb} from './gateway.js'
import {DEFAULT_HTTP_API_PORT, DEFAULT_HTTP_MAX_CONNECTIONS} from './defaults.js'
import {DEFAULT_STREAM_STALL_MS} from './gateway-session.js'
import {type StreamFormat, pipeTunnelStream, streamFormat} from './http-stream.js'
import {type JsonAnswer, errorAnswer, jsonAnswer, parseBody, readJsonBody, sendAnswer, sendError} from './http-json.js'
import {type FastRequest, createFastHttpServer} from './http-fast.js'
import {withAsyncDispose} from '../dispose.js'
import {createRefusalLog} from '../refusal-log.js'
import {type ObserveEndpoints, answerObserveRequest} from '../observe/http.js'

export {DEFAULT_HTTP_API_PORT} from './defaults.js'
export {errorStatus, sendError} from './http-json.js'
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
  /** Connections closed on accept for maxConnections: the first at once, then the count at most every 10 s. */
  onRefused?: (refused: number, maxConnections: number) => void
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
  /** Connections closed on accept over maxConnections so far. */
  readonly refusedConnections: number
}

const VERBS: Partial<Record<string, TunnelVerb>> = {DELETE: 'DELETE', GET: 'GET', PATCH: 'PATCH', POST: 'POST', PUT: 'PATCH'}
const ALLOW = 'GET, POST, PUT, PATCH, DELETE'
const NODES_PREFIX = '/nodes/'

/** What every request of one API shares. */
interface ApiState {
  gateway: TunnelGatewayHandle
  maxBodyBytes: number
  sendTimeoutMs: number | undefined
  /** Requests being answered (streams included), for close()'s drain. */
  active: number
  onIdle: (() => void) | undefined
  /** Enders of the streams being served, for close(). */
  streams: Set<() => void>
}

export async function startTunnelHttpApi(gateway: TunnelGatewayHandle, options: TunnelHttpApiOptions = {}): Promise<TunnelHttpApiHandle> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? DEFAULT_HTTP_API_PORT
  const api: ApiState = {active: 0, gateway, maxBodyBytes: options.maxBodyBytes ?? DEFAULT_HTTP_MAX_BODY_BYTES, onIdle: undefined, sendTimeoutMs: options.sendTimeoutMs, streams: new Set()}
  const {observe} = options
  // node:http never listens itself: the hot path's net server hands it the connections it does not serve.
  const server: Server = createServer((req, res) => {
    if (options.inspector?.handle(req, res) || (observe && answerObserveRequest(observe, req, res))) {
      // A client may reset mid-request or mid-answer: both ends of the exchange keep an error listener.
      req.on('error', ignore)
      res.on('error', ignore)
      return
    }

    onRequest(api, req, res)
  })
  const fast = createFastHttpServer({
    claims: claimsFastPath,
    fallback: server,
    keepAliveMs: server.keepAliveTimeout,
    maxBodyBytes: api.maxBodyBytes,
    serve: (request, answer) => serveFast(api, request, answer),
  })
  const maxConnections = options.maxConnections ?? DEFAULT_HTTP_MAX_CONNECTIONS
  fast.server.maxConnections = maxConnections
  const refusals = createRefusalLog((refused) => options.onRefused?.(refused, maxConnections))
  // Node closes a connection over maxConnections itself, and says so with 'drop'.
  fast.server.on('drop', () => refusals.add())
  fast.server.on('connection', (socket) => socket.on('error', ignore))
  await listenOn(fast.server, host, port, 'HTTP')
  // Accept errors after listening (EMFILE under a flood) must not end the process.
  fast.server.on('error', ignore)

  let closing: Promise<void> | undefined
  const shutdown = async (): Promise<void> => {
    const stopped = new Promise<void>((resolve) => fast.server.close(() => resolve()))
    // node:http's close() closes its idle connections and stops its timeout checks (it never listened).
    server.close(ignore)
    fast.closeIdle()
    for (const end of api.streams) end()
    const idle = api.active === 0 ? Promise.resolve() : new Promise<void>((resolve) => (api.onIdle = resolve))
    await settleWithin(idle, options.drainMs ?? DEFAULT_HTTP_DRAIN_MS)
    fast.closeAll()
    await stopped
    refusals.close()
  }

  return withAsyncDispose<TunnelHttpApiHandle>({
    address: fast.server.address() as AddressInfo,
    close: () => (closing ??= shutdown()),
    get refusedConnections() {
      return refusals.total
    },
  })
}

function ignore(): void {}

function onRequest(api: ApiState, req: IncomingMessage, res: ServerResponse): void {
  // A client may reset mid-request or mid-answer: both ends of the exchange keep an error listener.
  req.on('error', ignore)
  res.on('error', ignore)
  api.active++
  try {
    route(api, req, res)
  } catch (error) {
    fail(api, res, error)
  }
}

/** Every request ends in exactly one of reply(), fail() or (for a stream) release(). */
function release(api: ApiState): void {
  if (--api.active === 0) api.onIdle?.()
}

function reply(api: ApiState, res: ServerResponse, answer: JsonAnswer): void {
  sendAnswer(res, answer)
  release(api)
}

function fail(api: ApiState, res: ServerResponse, error: unknown): void {
  sendError(res, error)
  release(api)
}

/** Where a request goes: an answer of the API's own, a STREAM, or one request to a node. */
type Routed =
  | {kind: 'answer'; answer: JsonAnswer}
  | {kind: 'stream'; format: StreamFormat; nodeId: string; path: string; params: Record<string, unknown> | undefined}
  | {kind: 'request'; verb: TunnelVerb; nodeId: string; path: string; params: Record<string, unknown> | undefined}

/** The same routing for node:http and the hot path. May throw (a query too deep...). */
function routeRequest(api: ApiState, method: string, target: string, accept: string | undefined): Routed {
  const {path, query} = requestTarget(target)
  if (path === '/nodes' || path === NODES_PREFIX) {
    if (method !== 'GET') return methodNotAllowed('GET')
    // The cluster's state rides in headers, so the list stays the one-gateway array.
    const cluster = api.gateway.cluster()
    return {answer: jsonAnswer(200, listNodes(api.gateway), cluster && ['x-cluster-state', cluster.state, 'x-cluster-since', cluster.since]), kind: 'answer'}
  }

  // /nodes/<id>[/<path>], id not empty.
  const slash = path.indexOf('/', NODES_PREFIX.length)
  if (!path.startsWith(NODES_PREFIX) || slash === NODES_PREFIX.length) {
    return {answer: jsonAnswer(404, {error: `no such endpoint: ${path}; use GET /nodes, METHOD /nodes/<id>/<path>, or GET /metrics, /healthz, /readyz`}), kind: 'answer'}
  }

  const verb = VERBS[method]
  if (!verb) return methodNotAllowed(ALLOW)
  const nodeId = decodeSegment(slash === -1 ? path.slice(NODES_PREFIX.length) : path.slice(NODES_PREFIX.length, slash))
  const nodePath = slash === -1 ? '/' : decodePath(path.slice(slash))
  const params = query === '' ? undefined : parseQuery(query)
  const format = verb === 'GET' ? streamFormat(accept) : undefined
  if (format) return {format, kind: 'stream', nodeId, params, path: nodePath}
  return {kind: 'request', nodeId, params, path: nodePath, verb}
}

function route(api: ApiState, req: IncomingMessage, res: ServerResponse): void {
  const routed = routeRequest(api, req.method ?? 'GET', req.url ?? '/', req.headers.accept)
  if (routed.kind === 'answer') return reply(api, res, routed.answer)
  if (routed.kind === 'stream') {
    void serveStream(api, res, routed).then(() => release(api))
    return
  }

  readJsonBody(req, api.maxBodyBytes, (error, data) => {
    if (error) return fail(api, res, error)
    let answer: ReturnType<TunnelGatewayHandle['request']>
    try {
      answer = api.gateway.request(routed.nodeId, routed.verb, routed.path, {data, params: routed.params})
    } catch (failure) {
      // Called from a stream listener: nothing above would catch it.
      return fail(api, res, failure)
    }

    answer.then(
      ({body, status}) => reply(api, res, jsonAnswer(status, body)),
      (failure: unknown) => fail(api, res, failure),
    )
  })
}

const API_METHODS = new Set(['DELETE', 'GET', 'PATCH', 'POST', 'PUT'])

/**
 * The requests the hot path serves: the API's methods on /nodes..., except STREAMs (GET with an NDJSON
 * or SSE Accept). Neither the inspector (`/`, `/inspect/...`) nor /metrics, /healthz, /readyz answer
 * a target starting with /nodes, so whatever takes the request, the answer is the same.
 */
function claimsFastPath(method: string, target: string, accept: string | undefined): boolean {
  if (!API_METHODS.has(method) || !target.startsWith('/nodes')) return false
  const next = target.charCodeAt(6)
  if (!(Number.isNaN(next) || next === 0x2f || next === 0x3f)) return false
  return !(method === 'GET' && accept !== undefined && streamFormat(accept))
}

/** One request of the hot path: the same routing and answers as over node:http. */
function serveFast(api: ApiState, request: FastRequest, answer: (answer: JsonAnswer) => void): void {
  api.active++
  const done = (result: JsonAnswer): void => {
    answer(result)
    release(api)
  }

  try {
    const routed = routeRequest(api, request.method, request.target, undefined)
    if (routed.kind !== 'request') return done(routed.kind === 'answer' ? routed.answer : errorAnswer(new Error('a stream on the hot path')))
    const data = request.body === undefined ? undefined : parseBody(request.body.toString('utf8'))
    api.gateway.request(routed.nodeId, routed.verb, routed.path, {data, params: routed.params}).then(
      ({body, status}) => done(jsonAnswer(status, body)),
      (failure: unknown) => done(errorAnswer(failure)),
    )
  } catch (error) {
    done(errorAnswer(error))
  }
}

/** In a cluster each node also names the gateway holding it. */
function listNodes(gateway: TunnelGatewayHandle): unknown[] {
  return gateway.nodes().map(({address, connectedSince, fingerprint, gateway: holder, id, inFlight}) => ({address, connectedSince: connectedSince.toISOString(), fingerprint, id, inFlight, ...(holder ? {gateway: holder} : {})}))
}

/**
 * The request target as path and raw query, the same as a WHATWG URL would give (the query is decoded
 * by parseQuery either way). A URL object costs more than the rest of the routing, so only targets a
 * URL would rewrite take one: not origin-form, `//`, dot segments (`%2e` too), backslashes, fragments.
 */
export function requestTarget(target: string): {path: string; query: string} {
  const mark = target.indexOf('?')
  const path = mark === -1 ? target : target.slice(0, mark)
  if (path.charCodeAt(0) !== 0x2f || path.charCodeAt(1) === 0x2f || path.includes('/.') || path.includes('\\') || target.includes('#') || UNSAFE_PERCENT.test(path)) {
    const url = new URL(target, 'http://gateway')
    return {path: url.pathname, query: url.search.slice(1)}
  }

  return {path, query: mark === -1 ? '' : target.slice(mark + 1)}
}

/** `%2e` is a dot to the URL parser (so `/%2e%2e/` is a dot segment). */
const UNSAFE_PERCENT = /%2e/i

/** Decodes each segment of a node path; a path without `%` is left as it is. */
function decodePath(path: string): string {
  return path.includes('%') ? path.split('/').map(decodeSegment).join('/') : path
}

/** Percent-decodes one path segment, unless that would make a `/` or `?` that changes how the path splits. */
function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment
  try {
    const decoded = decodeURIComponent(segment)
    return /[/?]/.test(decoded) ? segment : decoded
  } catch {
    return segment
  }
}

function methodNotAllowed(allow: string): Routed {
  return {answer: jsonAnswer(405, {error: `method not allowed; use ${allow}`}, ['allow', allow]), kind: 'answer'}
}

async function serveStream(api: ApiState, res: ServerResponse, request: Extract<Routed, {kind: 'stream'}>): Promise<void> {
  // A remote reader that stops reading loses its stream rather than keep the node paused for every caller.
  const stream = api.gateway.stream(request.nodeId, request.path, {params: request.params, stallMs: DEFAULT_STREAM_STALL_MS})
  const end = (): void => void stream.cancel()
  api.streams.add(end)
  try {
    const opened = await pipeTunnelStream(stream, res, request.format, api.sendTimeoutMs)
    if (!opened.ok) sendError(res, opened.error)
  } catch (error) {
    sendError(res, error)
  } finally {
    api.streams.delete(end)
  }
}
