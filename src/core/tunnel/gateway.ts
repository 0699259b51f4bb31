// The tunnel gateway: listens on TCP for nodes, acts as the SSH client on each accepted socket,
// identifies the node, keeps a registry of connected nodes and sends them requests and STREAMs.
import {type AddressInfo, type Server as NetServer, type Socket, createServer} from 'node:net'
import ssh2 from 'ssh2'
import {PeerGoneError, RestwireError, TimeoutError} from '../errors.js'
import {type PeerRegistry, LocalPeerRegistry} from '../link/peer-registry.js'
import type {LinkSession} from '../link/session.js'
import {listenOn} from '../listen.js'
import {type StartupRefusal, StartupGate, type StartupTicket} from '../startup-gate.js'
import {DEFAULT_MAX_MESSAGE_BYTES} from '../framing/gzip-member.js'
import {parseQuery} from '../message/request.js'
import {sha256Fingerprint} from '../ssh/fingerprint.js'
import type {LoadedPrivateKey} from '../ssh/private-key.js'
import {DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS, DEFAULT_GATEWAY_PORT, DEFAULT_MAX_IN_FLIGHT, DEFAULT_GATEWAY_TIMEOUT_MS, GATEWAY_USER, RESTWIRE_IDENT} from './defaults.js'
import {GatewaySession, type TunnelStream, previewJson, remoteError} from './gateway-session.js'
import {isKeyListed, isValidNodeId, verifyNodeKey} from './known-nodes.js'
import {type TunnelResponseMessage, canonicalRequestType} from './messages.js'
import {withAsyncDispose} from '../dispose.js'
import type {ConnectionStats, TrafficLog} from '../observe/traffic.js'
import {observeTunnelRequest, observeTunnelStream} from './gateway-traffic.js'

/** How many connected node ids an unknown-node error names. */
const MAX_NODES_NAMED = 20

export interface TunnelGatewayOptions {
  host?: string
  /** Default 8022; 0 picks a free port. */
  port?: number
  /** The gateway's SSH client keys (the nodes' authorized_keys list their public halves). */
  identities: LoadedPrivateKey[]
  /** known_hosts-style file of trusted node host keys, patterns matched against node ids. */
  knownNodesPath: string
  /** Trust and record the key of a node id the file does not know yet. */
  acceptNew?: boolean
  /** Bound on every request (and on the first answer of a STREAM). Default 30 s. */
  timeoutMs?: number
  /** Bound on the SSH handshake, and on IDENTIFY. Default 10 s. */
  connectTimeoutMs?: number
  /** Time from the TCP accept to a registered node (handshake + IDENTIFY); then the socket is closed. Default 30 s. */
  loginGraceMs?: number
  /** Connections still in the handshake at once; the excess is closed on accept. Default 100. */
  maxStartups?: number
  /** Largest message either side may send, both ways (the wire cannot say the peer's limit). Default 16 MiB. */
  maxMessageBytes?: number
  /** Requests and streams waiting on one node; beyond it they fail at the gateway with 503. Default 1024. */
  maxInFlight?: number
  onEvent?: (event: TunnelGatewayEvent) => void
  /** Each request and STREAM toward a node as a traffic record (metrics, inspector); none built without it. */
  traffic?: TrafficLog
  /** Makes the registry of nodes from this gateway's own one: a cluster's (src/core/cluster/tunnel-cluster.ts). */
  registry?: (local: LocalPeerRegistry<TunnelPeer>) => TunnelPeerRegistry
}

export interface TunnelPeerRegistry extends PeerRegistry<TunnelPeer> {
  /** This gateway's name in the cluster. */
  readonly hubName: string
  /** The cluster's state: 'degraded' while NATS is unreachable (only this gateway's nodes are listed and reached); and its gateways. */
  cluster(): TunnelClusterState & {hubs: string[]}
}

export interface TunnelClusterState {
  state: 'connected' | 'degraded'
  /** When that state began (ISO 8601). */
  since: string
}

export type TunnelGatewayEvent =
  | {type: 'node-connected'; nodeId: string; address: string; fingerprint: string}
  | {type: 'node-replaced'; nodeId: string; address: string}
  | {type: 'node-disconnected'; nodeId: string; reason: string}
  | {type: 'node-rejected'; address: string; error: RestwireError}
  /** Closed by the startup gate: over --max-startups on accept, or not registered within the login grace. */
  | {type: 'node-refused'; address: string; reason: StartupRefusal}

export interface TunnelNodeInfo {
  id: string
  fingerprint: string
  address: string
  connectedSince: Date
  inFlight: number
  /** The gateway holding the node (in a cluster only). */
  gateway?: string
}

export type TunnelVerb = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'UPDATE'

export interface TunnelRequestOptions {
  data?: unknown
  params?: Record<string, unknown>
  timeoutMs?: number
}

export interface TunnelGatewayHandle extends AsyncDisposable {
  address: AddressInfo
  nodes(): TunnelNodeInfo[]
  /** In a cluster, its state (GET /nodes sends it as X-Cluster-State and X-Cluster-Since); undefined otherwise. */
  cluster(): TunnelClusterState | undefined
  /** Resolves with a 2xx answer; rejects with a StatusError (RW_ERR_REMOTE_4XX/5XX, typed status and body) otherwise. */
  request(nodeId: string, verb: TunnelVerb, path: string, options?: TunnelRequestOptions): Promise<{status: number; body: unknown}>
  /** With `stallMs`, a reader that takes nothing for that long while the node's channel is paused loses the stream. */
  stream(nodeId: string, path: string, options?: {params?: Record<string, unknown>; timeoutMs?: number; stallMs?: number}): TunnelStream
  waitForNode(nodeId: string, timeoutMs: number): Promise<void>
  /** Node connections now (peers: nodes registered here), for metrics gauges. */
  connectionStats(): ConnectionStats
  /** Stops listening, fails what is in flight with RW_ERR_CLOSED and disconnects every node. Safe twice. */
  close(): Promise<void>
}

/** What the gateway asks of a node's session: a GatewaySession, or a cluster's stand-in for a node on another gateway. */
export type TunnelNodeSession = Pick<GatewaySession, 'inFlight' | 'request' | 'stream'>

/** A registered node: what nodes() reports, its session, and how to end its connection. */
export interface TunnelPeer extends Omit<TunnelNodeInfo, 'inFlight'>, LinkSession {
  session: TunnelNodeSession
}

type NodeEntry = TunnelPeer

export async function startTunnelGateway(options: TunnelGatewayOptions): Promise<TunnelGatewayHandle> {
  const gateway = new TunnelGateway(options)
  await gateway.listen()
  return gateway.handle()
}

class TunnelGateway {
  private readonly server: NetServer
  private readonly registry: PeerRegistry<NodeEntry>
  private readonly clustered: TunnelPeerRegistry | undefined
  private readonly sockets = new Set<Socket>()
  private readonly gate: StartupGate
  /** Sockets the gate closed at the end of their grace: already reported as node-refused. */
  private readonly expired = new WeakSet<Socket>()
  /** The identities as ssh2 keys, parsed once for every node connection (see authKeys). */
  private readonly authKeys: Array<ssh2.ParsedKey | Buffer>
  /** The 'close' listener of every accepted socket: one function, not a closure per node. */
  private readonly forgetSocket: (this: Socket) => void
  private closing: Promise<void> | undefined

  constructor(private readonly options: TunnelGatewayOptions) {
    const local = new LocalPeerRegistry<NodeEntry>()
    this.clustered = options.registry?.(local)
    this.registry = this.clustered ?? local
    this.gate = new StartupGate({
      graceMs: options.loginGraceMs,
      maxStartups: options.maxStartups,
      onRefused: (reason, socket) => {
        if (reason === 'grace') this.expired.add(socket)
        options.onEvent?.({address: addressOf(socket), reason, type: 'node-refused'})
      },
    })
    this.authKeys = options.identities.map((identity) => authKey(identity))
    const {sockets} = this
    this.forgetSocket = function (this: Socket) {
      sockets.delete(this)
    }

    this.server = createServer({noDelay: true}, (socket) => this.onSocket(socket))
    this.server.on('error', () => {})
  }

  async listen(): Promise<void> {
    const host = this.options.host ?? '127.0.0.1'
    const port = this.options.port ?? DEFAULT_GATEWAY_PORT
    await listenOn(this.server, host, port, 'tunnel nodes')
  }

  handle(): TunnelGatewayHandle {
    return withAsyncDispose<TunnelGatewayHandle>({
      address: this.server.address() as AddressInfo,
      close: () => (this.closing ??= this.shutdown()),
      connectionStats: () => ({
        authenticating: this.gate.pending,
        open: this.sockets.size,
        peers: this.registry.list().filter(([, entry]) => entry.gateway === undefined).length,
      }),
      cluster: () => {
        const info = this.clustered?.cluster()
        return info && {since: info.since, state: info.state}
      },
      nodes: () =>
        this.registry.list().map(([, {address, connectedSince, fingerprint, gateway, id, session}]) => ({
          address,
          connectedSince,
          fingerprint,
          id,
          inFlight: session.inFlight,
          ...(this.clustered ? {gateway: gateway ?? this.clustered.hubName} : {}),
        })),
      request: (nodeId, verb, path, requestOptions) => {
        const {traffic} = this.options
        if (!traffic) return this.request(nodeId, verb, path, requestOptions)
        return observeTunnelRequest(traffic, {data: requestOptions?.data, nodeId, params: requestOptions?.params, path, verb}, () => this.request(nodeId, verb, path, requestOptions))
      },
      stream: (nodeId, path, streamOptions = {}) => {
        const {params, router} = splitPath(path, streamOptions.params)
        let session: TunnelNodeSession
        try {
          session = this.session(nodeId)
        } catch (error) {
          return failedStream(error as RestwireError)
        }

        const stream = session.stream(router, params, streamOptions.timeoutMs ?? this.timeoutMs, streamOptions.stallMs)
        return this.options.traffic ? observeTunnelStream(this.options.traffic, {nodeId, params, path: router}, stream) : stream
      },
      waitForNode: (nodeId, timeoutMs) => this.waitForNode(nodeId, timeoutMs),
    })
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? DEFAULT_GATEWAY_TIMEOUT_MS
  }

  private session(nodeId: string): TunnelNodeSession {
    const entry = this.registry.get(nodeId)
    if (!entry) {
      const connected = this.registry
        .list()
        .slice(0, MAX_NODES_NAMED)
        .map(([name]) => name)
      const known = connected.length === 0 ? 'no node is connected' : `connected: ${connected.join(', ')}${this.registry.size > connected.length ? ', …' : ''}`
      throw new RestwireError('RW_ERR_NODE_UNKNOWN', `no node "${nodeId}" is connected to this gateway${this.clustered ? ' or its cluster' : ''} (${known})`, {details: {connected, nodeId}, status: 404})
    }

    return entry.session
  }

  /** Not an async function: one promise per request fewer (every failure is still a rejection). */
  private request(nodeId: string, verb: TunnelVerb, path: string, options: TunnelRequestOptions = {}): Promise<{status: number; body: unknown}> {
    let answer: Promise<TunnelResponseMessage>
    let type: string | undefined
    let router = ''
    try {
      type = canonicalRequestType(verb)
      if (type !== 'GET' && type !== 'POST' && type !== 'PATCH' && type !== 'DELETE') {
        throw new RestwireError('RW_ERR_USAGE', `"${verb}" is not a request verb; use GET, POST, PATCH or DELETE (and stream() for STREAM)`)
      }

      const split = splitPath(path, options.params)
      router = split.router
      answer = this.session(nodeId).request(type, router, options.data ?? null, split.params, options.timeoutMs ?? this.timeoutMs)
    } catch (error) {
      return Promise.reject(error)
    }

    return answer.then((message) => {
      const status = message.ssh_response_code
      if (status < 200 || status > 299) throw remoteError(`${type} ${router} on node "${nodeId}"`, status, message.response)
      return {body: message.response, status}
    })
  }

  private async waitForNode(nodeId: string, timeoutMs: number): Promise<void> {
    if (await this.registry.waitFor(nodeId, timeoutMs)) return
    if (this.closing) throw new PeerGoneError('the gateway was closed')
    throw new TimeoutError(`node "${nodeId}" did not connect within ${timeoutMs} ms`, {details: {nodeId}, timeoutMs})
  }

  private onSocket(socket: Socket): void {
    // Any peer may reset at once: the socket has an error listener before anything else can happen.
    socket.on('error', () => {})
    if (this.closing) {
      socket.destroy()
      return
    }

    const ticket = this.gate.admit(socket)
    if (!ticket) return
    const address = addressOf(socket)
    this.sockets.add(socket)
    // Not a closure over this scope: it would keep the ticket (and its timer) for the node's lifetime.
    socket.on('close', this.forgetSocket)
    void this.identify(socket, address, ticket).catch((error: unknown) => {
      const failure = error instanceof RestwireError ? error : new RestwireError('RW_ERR_CONNECT', `node at ${address}: ${(error as Error).message}`, {cause: error})
      if (!this.expired.has(socket)) this.options.onEvent?.({address, error: failure, type: 'node-rejected'})
      socket.destroy()
    })
  }

  /** SSH handshake as the client, one direct-tcpip channel, IDENTIFY, host key check, registration. */
  private async identify(socket: Socket, address: string, ticket: StartupTicket): Promise<void> {
    const {knownNodesPath} = this.options
    const connectTimeoutMs = this.options.connectTimeoutMs ?? DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS
    const ssh = new ssh2.Client()
    let hostKey: Buffer | undefined
    let refused: RestwireError | undefined
    let handshakeError: ((error: Error & {level?: string}) => void) | undefined
    // One listener for the client's whole life: ssh2 may emit 'error' more than once (a reset after a
    // timeout), and an 'error' with no listener would end the process.
    ssh.on('error', (error: Error & {level?: string}) => handshakeError?.(error))
    await new Promise<void>((resolve, reject) => {
      // A socket that closes before the handshake finished may end without an 'error'.
      const closedEarly = (): void => reject(refused ?? new PeerGoneError(`the node at ${address} disconnected during the SSH handshake`))
      ssh.once('ready', () => {
        // Not left on the client for its lifetime (it would keep this promise's scope).
        ssh.off('close', closedEarly)
        resolve()
      })
      ssh.once('close', closedEarly)
      handshakeError = (error) => {
        if (refused) reject(refused)
        else if (error.level === 'client-authentication') reject(new RestwireError('RW_ERR_AUTH', `node at ${address} rejected every gateway key`, {cause: error}))
        else reject(new RestwireError('RW_ERR_CONNECT', `SSH handshake with the node at ${address} failed: ${error.message}`, {cause: error}))
      }
      ssh.connect({
        authHandler: this.authKeys.map((key, i) => ({key, passphrase: this.options.identities[i]!.passphrase, type: 'publickey' as const, username: GATEWAY_USER})),
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
          hostKey = key
          if (this.options.acceptNew) return verify(true)
          isKeyListed(knownNodesPath, key).then(
            (listed) => {
              if (!listed) refused = new RestwireError('RW_ERR_HOST_KEY_UNKNOWN', `the node at ${address} presented host key ${sha256Fingerprint(key)}, which is not in ${knownNodesPath}`, {details: {fingerprint: sha256Fingerprint(key), knownNodes: knownNodesPath}})
              verify(listed)
            },
            () => verify(false),
          )
        },
        ident: RESTWIRE_IDENT,
        keepaliveInterval: 15_000,
        readyTimeout: connectTimeoutMs,
        sock: socket,
        username: GATEWAY_USER,
      })
    })
    handshakeError = undefined
    try {
      const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => {
        ssh.forwardOut('', 0, '', this.server.address() ? (this.server.address() as AddressInfo).port : 0, (error, stream) => (error ? reject(new RestwireError('RW_ERR_PROTOCOL', `the node at ${address} refused the tunnel channel: ${error.message}`, {cause: error})) : resolve(stream)))
      })
      // restwire nodes decode coalesced input; rrssh's Python node needs one message per packet.
      const coalesce = ((ssh as unknown as {_remoteVer?: string})._remoteVer ?? '').startsWith('restwire')
      const identified: {entry?: NodeEntry} = {}
      const session = new GatewaySession({
        channel,
        coalesce,
        maxInFlight: this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
        maxMessageBytes: this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
        onClose: (error) => this.onSessionClosed(identified.entry, error),
      })
      ssh.on('close', () => session.close(new PeerGoneError('the node disconnected')))
      const answer = await session.request('IDENTIFY', null, null, null, connectTimeoutMs)
      const claimed = (answer.response as {node_id?: unknown} | null)?.node_id
      if (answer.ssh_response_code !== 200 || typeof claimed !== 'string' || !isValidNodeId(claimed)) {
        throw new RestwireError('RW_ERR_PROTOCOL', `the node at ${address} answered IDENTIFY with ${answer.ssh_response_code} ${previewJson(answer.response)}, not a valid node id`)
      }

      await verifyNodeKey(knownNodesPath, claimed, hostKey!, this.options.acceptNew ?? false)
      if (session.closed || this.closing) throw new PeerGoneError(`the node at ${address} went away during IDENTIFY`)
      const closed = new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())))
      identified.entry = {
        address,
        close: (reason) => {
          session.close(new PeerGoneError(reason))
          ssh.end()
        },
        closed,
        connectedSince: new Date(),
        destroy: () => socket.destroy(),
        fingerprint: sha256Fingerprint(hostKey!),
        id: claimed,
        session,
      }
      // The handshake's leftovers are not kept for the connection's lifetime (the closures above hold this scope).
      hostKey = undefined
      ticket.authenticated()
      this.register(identified.entry)
    } catch (error) {
      ssh.end()
      throw error
    }
  }

  private register(entry: NodeEntry): void {
    // A node that reconnects under the same id replaces its stale session at once.
    const stale = this.registry.add(entry.id, entry, `node "${entry.id}" reconnected; its previous session was dropped`)
    if (stale) this.options.onEvent?.({address: stale.address, nodeId: entry.id, type: 'node-replaced'})
    this.options.onEvent?.({address: entry.address, fingerprint: entry.fingerprint, nodeId: entry.id, type: 'node-connected'})
  }

  private onSessionClosed(entry: NodeEntry | undefined, error: RestwireError): void {
    if (!entry || !this.registry.remove(entry.id, entry)) return
    // The session is closed already: this ends the SSH connection.
    entry.close(error.message)
    this.options.onEvent?.({nodeId: entry.id, reason: error.message, type: 'node-disconnected'})
  }

  private async shutdown(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()))
    // Not awaited: every socket is destroyed right here, and server.close() waits for them.
    void this.registry.close('the gateway was closed')
    for (const socket of this.sockets) socket.destroy()
    await stopped
  }
}

/**
 * An identity as ssh2's client takes it: the parsed key when it parses (ssh2 would otherwise parse the
 * key file, and build its key objects, again for every node connection), else the file's bytes, which
 * ssh2 then skips as an invalid key as before.
 */
function authKey(identity: LoadedPrivateKey): ssh2.ParsedKey | Buffer {
  const parsed = ssh2.utils.parseKey(identity.privateKey, identity.passphrase)
  const key = Array.isArray(parsed) ? (parsed[0] as ssh2.ParsedKey | undefined) : parsed
  return key && !(key instanceof Error) && key.isPrivateKey() ? key : identity.privateKey
}

function addressOf(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
}

/** `/path?a=1` plus explicit params → router `/path` and params {a: '1', ...params}. */
function splitPath(path: string, params: Record<string, unknown> | undefined): {router: string; params: Record<string, unknown> | null} {
  const mark = path.indexOf('?')
  if (mark === -1 && params === undefined) return {params: null, router: path}
  const router = mark === -1 ? path : path.slice(0, mark)
  const fromQuery = mark === -1 ? {} : parseQuery(path.slice(mark + 1))
  const merged = {...fromQuery, ...params}
  return {params: Object.keys(merged).length > 0 ? merged : null, router}
}

/** A stream that fails on first use, so that stream() itself never throws. */
function failedStream(error: RestwireError): TunnelStream {
  return {
    [Symbol.asyncIterator]: () => ({next: () => Promise.reject(error)}),
    cancel: () => Promise.resolve(),
  }
}
