// GET /metrics, /healthz and /readyz: answered on a server's own HTTP port (the tunnel gateway's API,
// the pipe gateways) or on one of their own (`--metrics HOST:PORT`). A scrape flood renders at most a
// few times a second (renders are shared and kept briefly), so scrapes cannot crowd out serving.
import {type IncomingMessage, type Server, type ServerResponse, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {withAsyncDispose} from '../dispose.js'
import {listenOn} from '../listen.js'
import type {ServerMetrics} from './metrics.js'

/** How long one render answers every scrape that arrives meanwhile. */
const RENDER_REUSE_MS = 250
/** Connections to a metrics port at once; more are closed on accept. */
const MAX_METRICS_CONNECTIONS = 64

export interface Readiness {
  ready: boolean
  /** Why not ready (or what "ready" means here), for the body. */
  reason: string
}

export interface ObserveEndpoints {
  metrics: ServerMetrics
  /** Listening, and for a node: connected; for a cluster member: NATS reachable. */
  ready: () => Readiness
}

type Rendered = {contentType: string; text: string}

/** Answers GET /metrics, /healthz, /readyz; returns false for any other path (the caller's routes). */
export function answerObserveRequest(endpoints: ObserveEndpoints, req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '/').split('?', 1)[0]
  if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz') return false
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, {allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8'})
    res.end('use GET\n')
    return true
  }

  if (path === '/healthz') {
    send(res, 200, 'ok\n')
  } else if (path === '/readyz') {
    const {ready, reason} = endpoints.ready()
    send(res, ready ? 200 : 503, `${ready ? 'ready' : 'not ready'}: ${reason}\n`)
  } else {
    render(endpoints.metrics).then(
      ({contentType, text}) => send(res, 200, text, contentType),
      (error: unknown) => send(res, 500, `metrics could not be rendered: ${(error as Error)?.message}\n`),
    )
  }

  return true
}

const renders = new WeakMap<ServerMetrics, {at: number; rendering: Promise<Rendered>}>()

function render(metrics: ServerMetrics): Promise<Rendered> {
  const kept = renders.get(metrics)
  if (kept && performance.now() - kept.at < RENDER_REUSE_MS) return kept.rendering
  // Loaded on the first scrape: prom-client is never read by a process nobody scrapes.
  const rendering = import('./prometheus.js').then(({renderPrometheus}) => renderPrometheus(metrics))
  renders.set(metrics, {at: performance.now(), rendering})
  return rendering
}

function send(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  if (res.destroyed) return
  res.writeHead(status, {'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), 'content-type': contentType})
  res.end(res.req.method === 'HEAD' ? undefined : text)
}

export interface ObserveServerHandle extends AsyncDisposable {
  address: AddressInfo
  close(): Promise<void>
}

/** A port of its own for the endpoints (`--metrics HOST:PORT`): 404 for anything else. */
export async function startObserveServer(endpoints: ObserveEndpoints, host: string, port: number): Promise<ObserveServerHandle> {
  const server: Server = createServer({headersTimeout: 10_000, requestTimeout: 30_000}, (req, res) => {
    req.on('error', () => {})
    res.on('error', () => {})
    if (!answerObserveRequest(endpoints, req, res)) send(res, 404, 'use GET /metrics, /healthz or /readyz\n')
  })
  server.maxConnections = MAX_METRICS_CONNECTIONS
  server.on('connection', (socket) => socket.on('error', () => {}))
  await listenOn(server, host, port, 'metrics')
  server.on('error', () => {})
  let closing: Promise<void> | undefined
  return withAsyncDispose<ObserveServerHandle>({
    address: server.address() as AddressInfo,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })),
  })
}
