// The inspector: a page at `/` and its JSON and SSE routes under `/inspect/`, mounted on a server's own
// HTTP port (tunnel gateway, pipe hub) or on a port of its own (startInspectorServer, for korv and the
// relay). It lists the peers and the TrafficLog's records, shows one in full, and replays one through
// the server's real call path (an InspectTarget each protocol provides). Access rules: inspector-guard.ts.
import {readFileSync} from 'node:fs'
import {type IncomingMessage, type Server, type ServerResponse, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {formatHostPort} from '../address.js'
import {withAsyncDispose} from '../dispose.js'
import {RestwireError} from '../errors.js'
import {stringifyJson} from '../json.js'
import {listenOn} from '../listen.js'
import {InspectorFeed} from './inspector-feed.js'
import {type InspectorAccess, guardRequest} from './inspector-guard.js'
import {type BodyView, detail, summarize, viewBody} from './traffic-view.js'
import type {TrafficBody, TrafficLog, TrafficProtocol, TrafficRecord} from './traffic.js'

/** Largest replay request (the edited body, as JSON); larger is 413. */
export const MAX_REPLAY_REQUEST_BYTES = 1024 * 1024
/** Replays in flight at once; more are 429 (a page held down on Replay must not flood a node). */
export const MAX_REPLAYS_IN_FLIGHT = 4

export interface InspectPeer {
  id: string
  /** SSH key fingerprint or certificate name/fingerprint. */
  fingerprint?: string
  address?: string
  /** ISO time of connection. */
  since?: string
  inFlight?: number
  /** The gateway or hub holding it, in a cluster. */
  holder?: string
}

export interface ReplayEdit {
  /** The edited body as text (JSON for korv, tunnel and relay; bytes as UTF-8 for pipe); absent: the original body. */
  body?: string
}

export interface ReplayOutcome {
  status: number
  response: TrafficBody & {headers?: Record<string, string>}
  /** A restwire error code when the call failed without an answer. */
  error?: string
}

/** What a protocol offers the inspector: its peers, and a replay through its real call path. */
export interface InspectTarget {
  protocol: TrafficProtocol
  /** `tunnel gateway`, `pipe hub`...: the page's title. */
  name: string
  peers(): InspectPeer[]
  /** How many peers there are in all, when peers() lists only the first of them (korv serve, relay). */
  peerTotal?(): number
  /** Sends `record`'s request again (with `edit`), as a real caller would; throws RestwireError for refusals. */
  replay(record: TrafficRecord, edit: ReplayEdit): Promise<ReplayOutcome>
}

export interface InspectorOptions extends InspectorAccess {
  log: TrafficLog
  target: InspectTarget
  maxSseClients?: number
  maxSseBufferedBytes?: number
}

export interface Inspector {
  /** Serves the request when it is the inspector's (`/`, `/inspect/...`): true; otherwise false and untouched. */
  handle(req: IncomingMessage, res: ServerResponse): boolean
  /** Event streams open now, and those dropped for not keeping up. */
  streams(): {open: number; dropped: number}
  /** Ends the event streams. */
  close(): void
}

export interface ReplayView {
  status: number
  latencyMs: number
  error?: string
  request: BodyView
  response: BodyView
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
}
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
const ASSETS: Record<string, {file: string; type: string}> = {
  '/': {file: 'index.html', type: 'text/html; charset=utf-8'},
  '/inspect/inspector.css': {file: 'inspector.css', type: 'text/css; charset=utf-8'},
  '/inspect/inspector.js': {file: 'inspector.js', type: 'text/javascript; charset=utf-8'},
}

export function createInspector(options: InspectorOptions): Inspector {
  const {log, target} = options
  const about = {name: target.name, protocol: target.protocol, tokenRequired: options.token !== undefined}
  const feed = new InspectorFeed({about, log, maxBufferedBytes: options.maxSseBufferedBytes, maxClients: options.maxSseClients, peers: () => target.peers()})
  let replays = 0

  const api = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const method = req.method ?? 'GET'
    if (path === '/inspect/api/events') {
      if (method !== 'GET') return sendJson(res, 405, {error: 'use GET'})
      if (!feed.attach(res)) sendJson(res, 503, {error: 'too many inspector pages are connected'})
      return
    }

    if (path === '/inspect/api/records') {
      if (method !== 'GET') return sendJson(res, 405, {error: 'use GET'})
      const peers = target.peers()
      return sendJson(res, 200, {about, peers, peersTotal: target.peerTotal?.() ?? peers.length, records: log.recent().map(summarize)})
    }

    if (path === '/inspect/api/peers') {
      if (method !== 'GET') return sendJson(res, 405, {error: 'use GET'})
      const peers = target.peers()
      res.setHeader('x-total-count', String(target.peerTotal?.() ?? peers.length))
      return sendJson(res, 200, peers)
    }

    const match = /^\/inspect\/api\/records\/(\d{1,15})(\/replay)?$/.exec(path)
    if (!match) return sendJson(res, 404, {error: `no such inspector route: ${path}`})
    const record = log.get(Number(match[1]))
    if (!record) return sendJson(res, 404, {error: `record ${match[1]} is no longer kept`})
    if (!match[2]) return method === 'GET' ? sendJson(res, 200, detail(record)) : sendJson(res, 405, {error: 'use GET'})
    if (method !== 'POST') return sendJson(res, 405, {error: 'use POST'})
    if (replays >= MAX_REPLAYS_IN_FLIGHT) return sendJson(res, 429, {error: `${MAX_REPLAYS_IN_FLIGHT} replays are in flight already`})
    replays++
    try {
      const edit = await readReplayEdit(req)
      const kept = record.request.value
      const partial = kept === undefined ? record.request.bytes > 0 : Buffer.isBuffer(kept) && kept.length < record.request.bytes
      if (edit.body === undefined && partial) return sendJson(res, 409, {error: 'the log kept this request body only in part (or not at all); edit the body to replay it'})

      sendJson(res, 200, await replay(target, record, edit))
    } finally {
      replays--
    }
  }

  return {
    close: () => feed.close(),
    streams: () => ({dropped: feed.dropped, open: feed.size}),
    handle(req, res) {
      const raw = req.url ?? '/'
      const path = raw.includes('?') ? raw.slice(0, raw.indexOf('?')) : raw
      const asset = Object.hasOwn(ASSETS, path) ? ASSETS[path] : undefined
      if (!asset && !path.startsWith('/inspect/')) return false
      req.on('error', () => {})
      res.on('error', () => {})
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value)
      const refusal = guardRequest(req, options, asset ? 'page' : 'api')
      if (refusal) {
        if (refusal.status === 401) res.setHeader('www-authenticate', 'Bearer realm="restwire inspector"')
        sendJson(res, refusal.status, {error: `inspector: ${refusal.reason}`})
        return true
      }

      if (asset) {
        if (req.method !== 'GET' && req.method !== 'HEAD') sendJson(res, 405, {error: 'use GET'})
        else {
          try {
            sendAsset(res, asset)
          } catch (error) {
            sendJson(res, 500, {code: (error as RestwireError).code ?? 'RW_ERR_INTERNAL', error: (error as Error).message})
          }
        }

        return true
      }

      api(req, res, path).catch((error: unknown) => sendJson(res, errorStatus(error), {code: (error as RestwireError).code ?? 'RW_ERR_INTERNAL', error: (error as Error).message}))
      return true
    },
  }
}

async function replay(target: InspectTarget, record: TrafficRecord, edit: ReplayEdit): Promise<ReplayView> {
  const started = performance.now()
  const request = edit.body === undefined ? viewBody(record.request) : viewBody({bytes: Buffer.byteLength(edit.body), value: Buffer.from(edit.body)})
  try {
    const outcome = await target.replay(record, edit)
    const latencyMs = Math.round((performance.now() - started) * 10) / 10
    return {latencyMs, request, response: viewBody(outcome.response), status: outcome.status, ...(outcome.error ? {error: outcome.error} : {})}
  } catch (error) {
    if (error instanceof RestwireError && error.code === 'RW_ERR_USAGE') throw error
    const latencyMs = Math.round((performance.now() - started) * 10) / 10
    const code = (error as RestwireError).code ?? 'RW_ERR_INTERNAL'
    const status = error instanceof RestwireError ? errorStatus(error) : 500
    return {error: code, latencyMs, request, response: viewBody({bytes: 0, value: {code, error: (error as Error).message}}), status}
  }
}

async function readReplayEdit(req: IncomingMessage): Promise<ReplayEdit> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_REPLAY_REQUEST_BYTES) throw new RestwireError('RW_ERR_FRAME_TOO_LARGE', `a replay request is at most ${MAX_REPLAY_REQUEST_BYTES} bytes`, {status: 413})
    chunks.push(chunk)
  }

  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `the replay request is not JSON: ${(error as Error).message}`, {cause: error, status: 400})
  }

  const body = (parsed as {body?: unknown})?.body
  if (body !== undefined && typeof body !== 'string') throw new RestwireError('RW_ERR_USAGE', 'the replay request\'s "body" must be a string', {status: 400})
  return body === undefined ? {} : {body}
}

function errorStatus(error: unknown): number {
  const status = (error as RestwireError).status
  return status !== undefined && Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500
}

let assetsDir: string | undefined
/** The folder `inspector/` of the package: found upward from this module, in src/, dist/ or the CLI bundle alike. */
function findAssetsDir(): string {
  if (assetsDir) return assetsDir
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let up = 0; up < 5; up++) {
    try {
      readFileSync(join(dir, 'inspector', 'index.html'))
      return (assetsDir = join(dir, 'inspector'))
    } catch {
      dir = dirname(dir)
    }
  }

  throw new RestwireError('RW_ERR_INTERNAL', 'the inspector page (inspector/index.html) is missing from the package')
}

const assetCache = new Map<string, Buffer>()
function sendAsset(res: ServerResponse, asset: {file: string; type: string}): void {
  let body = assetCache.get(asset.file)
  if (!body) {
    body = readFileSync(join(findAssetsDir(), asset.file))
    assetCache.set(asset.file, body)
  }

  res.writeHead(200, {'content-length': body.length, 'content-security-policy': PAGE_CSP, 'content-type': asset.type})
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  let text: string
  try {
    text = stringifyJson(body, 'the inspector answer')
  } catch (error) {
    status = 500
    text = JSON.stringify({code: 'RW_ERR_JSON', error: (error as Error).message})
  }

  res.writeHead(status, {'content-length': Buffer.byteLength(text), 'content-type': 'application/json'})
  res.end(text)
}

export interface InspectorServerOptions extends InspectorOptions {
  host: string
  port: number
}

export interface InspectorServerHandle extends AsyncDisposable {
  address: AddressInfo
  url: string
  close(): Promise<void>
}

/** The inspector on a port of its own (`korv serve --inspect`, `relay start --inspect`); 404 for anything else. */
export async function startInspectorServer(options: InspectorServerOptions): Promise<InspectorServerHandle> {
  const inspector = createInspector(options)
  const server: Server = createServer({headersTimeout: 10_000, requestTimeout: 60_000}, (req, res) => {
    if (!inspector.handle(req, res)) {
      res.writeHead(404, {'content-type': 'application/json'})
      res.end(JSON.stringify({error: 'not an inspector route; open / in a browser'}))
    }
  })
  server.maxConnections = 64
  server.on('connection', (socket) => socket.on('error', () => {}))
  await listenOn(server, options.host, options.port, 'the inspector')
  server.on('error', () => {})
  const address = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return withAsyncDispose<InspectorServerHandle>({
    address,
    close: () => (closing ??= new Promise<void>((resolve) => {
      inspector.close()
      server.close(() => resolve())
      server.closeAllConnections()
    })),
    url: `http://${formatHostPort(address.address, address.port)}/`,
  })
}
