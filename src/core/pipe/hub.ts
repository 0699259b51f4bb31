// The pipe hub: a TLS listener that requires client certificates from the pipe CA, one PipeSession per
// node keyed by the name in its certificate (the newest connection wins), and requests to a node by
// name, waiting a bounded time for a known node that is away.
import type {AddressInfo, Socket} from 'node:net'
import {type TLSSocket, createServer} from 'node:tls'
import {PeerGoneError, RestwireError, errnoCode} from '../errors.js'
import {type PeerRegistry, LocalPeerRegistry} from '../link/peer-registry.js'
import {CLOSE_GRACE_MS, type LinkSession} from '../link/session.js'
import {endWithin} from '../link/streams.js'
import {listenOn} from '../listen.js'
import {DEFAULT_LOGIN_GRACE_MS, DEFAULT_MAX_STARTUPS, StartupGate, type StartupTicket} from '../startup-gate.js'
import {FrameType, encodeJsonFrame} from './frames.js'
import {type EventHandler, type PipeEvent, type PipeReply, PipeSession, type SendOptions} from './session.js'
import {type PipeIdentity, certificateName} from './tls-identity.js'

import {DEFAULT_PIPE_PORT} from './defaults.js'
import {withAsyncDispose} from '../dispose.js'
import type {ConnectionStats, TrafficLog} from '../observe/traffic.js'
import {observePipeHandler, observePipeRequest} from './traffic.js'

export {DEFAULT_PIPE_PORT} from './defaults.js'
/** How long a request to a known node that is away waits for it to reconnect before 503. */
export const DEFAULT_AWAIT_PEER_MS = 5000

export interface PipeTuning {
  heartbeatMs?: number
  heartbeatTimeoutMs?: number
  windowBytes?: number
  maxInFlight?: number
  maxBufferedBytes?: number
}

export interface PipeHubOptions extends PipeTuning {
  identity: PipeIdentity
  /** Default 127.0.0.1. */
  host?: string
  /** Default 7443; 0 picks a free port. */
  port?: number
  handler: EventHandler
  /** Events both ways as traffic records (metrics, inspector); none built without it. */
  traffic?: TrafficLog
  awaitNodeMs?: number
  /** Time from the TCP accept to TLS and the node's HELLO; then the connection is closed. Default 30 s. */
  loginGraceMs?: number
  /** Connections that may be between accept and HELLO at once; more are refused at once. Default 100. */
  maxStartups?: number
  onEvent?: (event: PipeHubEvent) => void
  /** Makes the registry of nodes from this hub's own one: a cluster's (src/core/cluster/pipe-cluster.ts). */
  registry?: (local: LocalPeerRegistry<PipePeer>) => PipePeerRegistry
}

/** A registry that may hold nodes of other hubs, and says so in GET /nodes. */
export interface PipePeerRegistry extends PeerRegistry<PipePeer> {
  /** This hub's name in the cluster. */
  readonly hubName: string
  cluster(): PipeClusterInfo
}

export interface PipeClusterInfo {
  name: string
  hub: string
  /** 'degraded': NATS is unreachable; this hub serves only its own nodes until it is back. */
  state: 'connected' | 'degraded'
  /** When that state began (ISO 8601). */
  since: string
  hubs: string[]
}

export type PipeHubEvent =
  | {type: 'node-connected'; node: string; address: string}
  | {type: 'node-replaced'; node: string; address: string}
  | {type: 'node-disconnected'; node: string; reason: string; error?: RestwireError}
  /** `refused`: why, for metrics: a certificate or TLS failure (auth), the grace time, or the startup cap. */
  | {type: 'node-rejected'; address: string; reason: string; refused?: 'auth' | 'grace' | 'cap'}

export interface PipeNodeInfo {
  name: string
  /** The hub holding the node (in a cluster only). */
  hub?: string
  address: string
  since: string
  inFlight: number
}

export interface PipeHubHandle extends AsyncDisposable {
  address: AddressInfo
  nodes(): PipeNodeInfo[]
  /** Node connections now (peers: nodes registered on this hub), for metrics gauges. */
  connectionStats(): ConnectionStats
  /** The cluster this hub belongs to (undefined without one). */
  cluster(): PipeClusterInfo | undefined
  /** One event to a node. Unknown node: RW_ERR_NODE_UNKNOWN (404); away for longer than awaitNodeMs: RW_ERR_CLOSED (503). */
  request(node: string, event: PipeEvent, options: SendOptions): Promise<PipeReply>
  /** Resolves when a node of this name is connected (or the hub closes). */
  waitForNode(node: string): Promise<void>
  /** Stops listening and closes every node connection (events in flight fail with 503). Safe twice. */
  close(): Promise<void>
}

/** A registered node: its session, where it connected from, and how to end its connection. */
export interface PipePeer extends LinkSession {
  session: Pick<PipeSession, 'request' | 'inFlight' | 'since'>
  address: string
  /** The hub holding it, when that is another hub of the cluster. */
  hub?: string
}

type Connected = PipePeer

export async function startPipeHub(options: PipeHubOptions): Promise<PipeHubHandle> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? DEFAULT_PIPE_PORT
  const local = new LocalPeerRegistry<Connected>()
  const clustered = options.registry?.(local)
  const registry: PeerRegistry<Connected> = clustered ?? local
  const sockets = new Set<TLSSocket>()
  const emit = (event: PipeHubEvent): void => options.onEvent?.(event)
  const handler = options.traffic ? observePipeHandler(options.traffic, options.handler) : options.handler
  const gate = new StartupGate({
    graceMs: options.loginGraceMs ?? DEFAULT_LOGIN_GRACE_MS,
    maxStartups: options.maxStartups ?? DEFAULT_MAX_STARTUPS,
    onRefused(why, socket) {
      const reason = why === 'cap' ? `more than ${gate.maxStartups} connections without a HELLO yet` : `no TLS handshake and HELLO within ${gate.graceMs} ms`
      emit({address: formatAddress(socket.remoteAddress, socket.remotePort), reason, refused: why, type: 'node-rejected'})
    },
  })
  // Each accepted TCP connection's place in the gate, by its address (the TLS socket reports the same one),
  // until its HELLO or its close: nothing of the startup is kept for the node's lifetime.
  const tickets = new Map<string, StartupTicket>()
  // One listener for every raw socket (not a closure per connection); the address was read (and cached
  // by net) on accept.
  function forgetTicket(this: Socket): void {
    tickets.delete(formatAddress(this.remoteAddress, this.remotePort))
  }

  const forgetSocket = function (this: TLSSocket): void {
    sockets.delete(this)
  }

  const server = createServer({
    ca: options.identity.ca,
    cert: options.identity.cert,
    // The gate closes a slow handshake (and logs it once); Node's own timeout is only a backstop.
    handshakeTimeout: (options.loginGraceMs ?? DEFAULT_LOGIN_GRACE_MS) + 5000,
    key: options.identity.key,
    minVersion: 'TLSv1.2',
    // On the accepted TCP socket: TLSSocket.setNoDelay() alone does not reach it on the server side.
    noDelay: true,
    rejectUnauthorized: false,
    requestCert: true,
  })
  // The raw TCP connection, before TLS: the grace time counts from here (MaxStartups, LoginGraceTime).
  server.on('connection', (raw: Socket) => {
    const address = formatAddress(raw.remoteAddress, raw.remotePort)
    const ticket = gate.admit(raw)
    if (!ticket) return
    tickets.set(address, ticket)
    raw.on('close', forgetTicket)
  })
  server.on('tlsClientError', (error, socket) => {
    // A hang-up of a socket already gone (the gate closed it, and said so; or the peer left mid-handshake):
    // nothing to add, and no address to name.
    if (socket.remoteAddress === undefined && errnoCode(error) === 'ECONNRESET') return void socket.destroy()
    emit({address: formatAddress(socket.remoteAddress, socket.remotePort), reason: tlsReason(error), refused: 'auth', type: 'node-rejected'})
    // With a tlsClientError listener Node leaves the socket open (a handshake timeout included).
    socket.destroy()
  })
  server.on('secureConnection', (socket) => {
    // For the socket's whole life: a peer that resets must not crash the hub.
    socket.on('error', () => {})
    const address = formatAddress(socket.remoteAddress, socket.remotePort)
    // Checked here rather than by rejectUnauthorized, so that the log (and the node) learn why.
    const cert = socket.getPeerCertificate()
    const hasCert = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0
    const refusal = !hasCert ? 'no client certificate' : socket.authorized ? undefined : certificateProblem(socket.authorizationError)
    const name = certificateName(cert)
    if (refusal || !name) {
      const reason = refusal ?? 'the client certificate names no node (no CN, no DNS name)'
      emit({address, reason, refused: 'auth', type: 'node-rejected'})
      // Nothing from this peer is read; it is told why in a GOAWAY, then cut off.
      endWithin(socket, CLOSE_GRACE_MS, {last: encodeJsonFrame(FrameType.GOAWAY, 0, 0, {reason: `refused: ${reason}`})})
      return
    }

    socket.setNoDelay(true)
    sockets.add(socket)
    socket.on('close', forgetSocket)
    const session: PipeSession = new PipeSession({
      ...tuning(options),
      handler,
      // TLS and HELLO done: this node no longer counts against the startup cap or its grace time.
      onHello() {
        tickets.get(address)?.authenticated()
        tickets.delete(address)
      },
      onClose(reason, error) {
        if (registry.remove(name, connected)) emit({error, node: name, reason, type: 'node-disconnected'})
      },
      peer: name,
      role: 'hub',
      socket,
    })
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    const connected: Connected = {address, close: (reason) => session.close(reason), closed, destroy: () => socket.destroy(), session}
    const previous = registry.add(name, connected, `replaced by a newer connection of ${name} from ${address}`)
    emit({address, node: name, type: previous ? 'node-replaced' : 'node-connected'})
  })

  await listenOn(server, host, port, 'pipe nodes')

  let closing: Promise<void> | undefined
  const shutdown = async (): Promise<void> => {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
    // Registered nodes are told why and destroyed after the grace (replaced ones still closing, by their
    // session); server.close() resolves once every connection is gone.
    void registry.close('the hub is shutting down')
    for (const socket of sockets) socket.destroySoon()
    await stopped
  }

  return withAsyncDispose<PipeHubHandle>({
    address: server.address() as AddressInfo,
    close: () => (closing ??= shutdown()),
    cluster: () => clustered?.cluster(),
    connectionStats: () => ({authenticating: gate.pending, open: sockets.size, peers: local.size}),
    nodes: () =>
      registry.list().map(([name, {address, hub, session}]) => ({
        address,
        ...(clustered ? {hub: hub ?? clustered.hubName} : {}),
        inFlight: session.inFlight,
        name,
        since: session.since.toISOString(),
      })),
    request(node, event, sendOptions) {
      if (options.traffic) return observePipeRequest(options.traffic, node, event, (sent) => sendTo(node, sent, sendOptions))
      return sendTo(node, event, sendOptions)
    },
    async waitForNode(node) {
      await registry.waitFor(node)
    },
  })

  /** Connected: straight to the session, without an async function's extra promise (or a closure) per event. */
  function sendTo(node: string, event: PipeEvent, sendOptions: SendOptions): Promise<PipeReply> {
    const connected = registry.get(node)
    return connected ? connected.session.request(event, sendOptions) : requestWhenConnected(node, event, sendOptions)
  }

  async function requestWhenConnected(node: string, event: PipeEvent, sendOptions: SendOptions): Promise<PipeReply> {
    let connected = registry.get(node)
    if (!connected && closing === undefined) {
      if (!registry.known(node)) {
        throw new RestwireError('RW_ERR_NODE_UNKNOWN', `no node named "${node}" has connected to this hub${clustered ? ' or its cluster' : ''}`, {
          status: 404,
          hint: 'Check the name against GET /nodes; a node is named by its certificate.',
        })
      }

      const awaitMs = Math.min(options.awaitNodeMs ?? DEFAULT_AWAIT_PEER_MS, sendOptions.timeoutMs)
      connected = await registry.waitFor(node, awaitMs)
    }

    if (!connected) {
      const degraded = clustered?.cluster().state === 'degraded' ? ' (the cluster is degraded: NATS is unreachable, only this hub\'s nodes can be reached)' : ''
      throw new PeerGoneError(`node "${node}" is not connected${degraded}`, {status: 503})
    }

    return connected.session.request(event, sendOptions)
  }
}

export function tuning(options: PipeTuning): PipeTuning {
  return {
    heartbeatMs: options.heartbeatMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    maxBufferedBytes: options.maxBufferedBytes,
    maxInFlight: options.maxInFlight,
    windowBytes: options.windowBytes,
  }
}

export function formatAddress(address: string | undefined, port: number | undefined): string {
  if (!address) return 'unknown'
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/** Short reasons for TLS failures, in the words of the certificate problem. */
export function tlsReason(error: Error): string {
  const code = errnoCode(error) ?? ''
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED/.test(code) || /did not return a certificate/i.test(error.message)) return 'no client certificate'
  if (/CERT_HAS_EXPIRED|CERTIFICATE_EXPIRED/.test(code) || /certificate has expired|certificate expired/i.test(error.message)) return `certificate expired (${error.message})`
  if (/UNKNOWN_CA|UNABLE_TO_GET_ISSUER|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code) || /unknown ca|unable to (get|verify)/i.test(error.message)) return `certificate not signed by the pipe CA (${error.message})`
  return error.message
}

/** Why a client certificate was refused, from the TLS verification error. */
function certificateProblem(error: Error | string | null | undefined): string {
  const code = typeof error === 'string' ? error : (errnoCode(error) ?? error?.message ?? '')
  if (code === 'CERT_HAS_EXPIRED') return 'certificate expired (CERT_HAS_EXPIRED)'
  if (code === 'CERT_NOT_YET_VALID') return 'certificate not yet valid (CERT_NOT_YET_VALID)'
  if (/ISSUER|SELF_SIGNED|UNABLE_TO_VERIFY|UNTRUSTED/.test(code)) return `certificate not signed by the pipe CA (${code})`
  return `certificate refused (${code})`
}
