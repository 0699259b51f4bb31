// The tunnel node: dials TCP out to a gateway, acts as the SSH server on that socket and serves the
// gateway's requests from a router; redials forever with backoff and jitter unless `once`. Given several
// gateways it holds one connection, to one of them (the link layer's Redialer picks which).
import {connect as netConnect} from 'node:net'
import type {Duplex} from 'node:stream'
import ssh2 from 'ssh2'
import {formatHostPort} from '../address.js'
import {RestwireError, errnoCode} from '../errors.js'
import {DEFAULT_MAX_MESSAGE_BYTES} from '../framing/gzip-member.js'
import {DEFAULT_HANDLER_TIMEOUT_MS} from '../message/invoke.js'
import type {Router} from '../message/router.js'
import type {AuthorizedKeysFile} from '../ssh/authorized-keys.js'
import {sha256Fingerprint} from '../ssh/fingerprint.js'
import {acceptPublicKeys} from '../ssh/server-auth.js'
import {Redialer} from '../link/redialer.js'
import type {DialedSession, LinkEnd} from '../link/session.js'
import {Waiters} from '../link/waiters.js'
import {DEFAULT_MAX_IN_FLIGHT, DEFAULT_NODE_HANDSHAKE_TIMEOUT_MS, RESTWIRE_IDENT} from './defaults.js'
import {NodeChannel} from './node-channel.js'
import {withAsyncDispose} from '../dispose.js'
import type {TrafficLog} from '../observe/traffic.js'

export interface GatewayAddress {
  host: string
  port: number
}

export interface ExposeNodeOptions {
  /** The gateway to dial, or several that act as one: the node dials one at a time, the next when that fails. */
  to: GatewayAddress | readonly GatewayAddress[]
  hostKeys: Array<{privateKey: Buffer | string; passphrase?: string}>
  /** The gateways allowed to call this node. */
  authorizedKeys: AuthorizedKeysFile
  /** Default: `node-` + the first 12 characters of the first host key's SHA256 fingerprint (url-safe). */
  nodeId?: string
  /** Routes by verb: GET, POST, PATCH, DELETE, and STREAM (handlers return an async iterable). */
  router: Router
  /** Stop after the first connection ends (or fails) instead of redialling. */
  once?: boolean
  backoff?: {initialMs?: number; maxMs?: number}
  handlerTimeoutMs?: number
  /**
   * Time from the TCP connect until the gateway has authenticated and sent IDENTIFY; then the node
   * drops the connection and redials (a "gateway" that accepts TCP and never speaks SSH). Default 10 s.
   */
  handshakeTimeoutMs?: number
  /** Requests and streams in flight per gateway connection; beyond it they are answered 503. Default 1024. */
  maxInFlight?: number
  maxMessageBytes?: number
  /** Send the stack trace of a failing handler in the 500 body. Default true. */
  tracebacks?: boolean
  /** The transport: returns a connected byte stream; `signal` aborts on close(). Default: TCP with Nagle off. */
  connect?: (to: {host: string; port: number}, signal: AbortSignal) => Promise<Duplex>
  onEvent?: (event: TunnelNodeEvent) => void
  /** Each request and STREAM this node answered, as a traffic record (metrics, inspector). */
  traffic?: TrafficLog
}

export type TunnelNodeEvent =
  | {type: 'connecting'; host: string; port: number; attempt: number}
  | {type: 'connected'; host: string; port: number}
  | {type: 'disconnected'; reason: string}
  | {type: 'retrying'; delayMs: number; attempt: number}
  | {type: 'auth-rejected'; reason: string; fingerprint?: string}
  | {type: 'protocol-error'; error: RestwireError}

export interface TunnelNodeHandle extends AsyncDisposable {
  nodeId: string
  /** Resolves on the next successful SSH handshake with a gateway. */
  connected(): Promise<void>
  /** Resolves when the node has stopped (after close(), or when a `once` node's connection ended). */
  readonly done: Promise<void>
  /** Stops redialling and closes the current connection. Safe to call twice. */
  close(): Promise<void>
}

/** A stable node id from a host key: `node-` + 12 url-safe base64 characters of its SHA256 fingerprint. */
export function nodeIdFromHostKey(privateKey: Buffer | string, passphrase?: string): string {
  const parsed = ssh2.utils.parseKey(privateKey, passphrase)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (!key || key instanceof Error) throw new RestwireError('RW_ERR_KEY_FILE', `cannot read the node's host key: ${key instanceof Error ? key.message : 'no key'}`)
  const digest = sha256Fingerprint(key.getPublicSSH()).slice('SHA256:'.length)
  return 'node-' + digest.replaceAll('+', '-').replaceAll('/', '_').slice(0, 12)
}

export function exposeNode(options: ExposeNodeOptions): TunnelNodeHandle {
  if (options.hostKeys.length === 0) throw new RestwireError('RW_ERR_CONFIG', 'a tunnel node needs at least one host key')
  const first = options.hostKeys[0]!
  const nodeId = options.nodeId ?? nodeIdFromHostKey(first.privateKey, first.passphrase)
  return new TunnelNode(options, nodeId).handle
}

class TunnelNode {
  readonly handle: TunnelNodeHandle
  private readonly ssh: ssh2.Server
  private readonly connectedWaiters = new Waiters<void>()
  private readonly redialer: Redialer<GatewayLink, GatewayAddress>

  constructor(
    private readonly options: ExposeNodeOptions,
    readonly nodeId: string,
  ) {
    const hostKeys = options.hostKeys.map(({passphrase, privateKey}) => ({key: privateKey, passphrase}))
    this.ssh = new ssh2.Server({hostKeys, ident: RESTWIRE_IDENT}, (client, info) => this.onConnection(client, info))
    this.ssh.on('error', () => {})
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_NODE_HANDSHAKE_TIMEOUT_MS
    const connect = options.connect ?? ((to, signal) => dialTcp(to, handshakeTimeoutMs, signal))
    this.redialer = new Redialer<GatewayLink, GatewayAddress>({
      backoff: options.backoff,
      closedReason: (stopped) => (stopped ? 'node closed' : 'the gateway closed the connection'),
      dial: async (gateway, _attempt, signal) => {
        const link = new GatewayLink(await connect(gateway, signal), gateway)
        this.ssh.injectSocket(link.socket as never)
        return link
      },
      dialFailed: (error, {host, port}) => ({reason: `cannot connect to ${formatHostPort(host, port)}: ${errnoCode(error) === 'ECONNREFUSED' ? 'connection refused' : (error as Error).message}`}),
      handshakeTimeoutMs,
      handshakeTimeoutReason: ({host, port}) => `the gateway at ${formatHostPort(host, port)} did not finish the SSH handshake and IDENTIFY within ${handshakeTimeoutMs} ms`,
      onEvent: (event) => {
        if (event.type === 'connecting') this.emit({attempt: event.attempt, host: event.target.host, port: event.target.port, type: 'connecting'})
        else if (event.type === 'disconnected') this.emit({reason: event.reason, type: 'disconnected'})
        else this.emit({attempt: event.attempt, delayMs: event.delayMs, type: 'retrying'})
      },
      once: options.once,
      stopReason: 'node closed',
      targets: Array.isArray(options.to) ? options.to : [options.to as GatewayAddress],
    })
    this.handle = withAsyncDispose<TunnelNodeHandle>({
      close: () => this.redialer.stop(),
      connected: async () => {
        await this.connectedWaiters.wait()
      },
      done: this.redialer.done,
      nodeId,
    })
  }

  private emit(event: TunnelNodeEvent): void {
    this.options.onEvent?.(event)
  }

  private onConnection(client: ssh2.Connection, info: ssh2.ClientInfo): void {
    const address = info.ip
    // restwire gateways decode coalesced input; rrssh's Python gateway needs one message per packet.
    const coalesce = info.header.versions.software.startsWith('restwire')
    // The Redialer's handshake timer (from the TCP connect) bounds the authentication too.
    const current = this.redialer.current
    if (current) current.client = client
    ;(client as ssh2.Connection & {setNoDelay(noDelay: boolean): void}).setNoDelay(true)
    const channels = new Set<NodeChannel>()
    const gauge = {count: 0, max: this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT}
    client.on('error', () => {})
    client.on('close', () => {
      for (const channel of channels) channel.close()
    })
    const authenticated = acceptPublicKeys(client, this.options.authorizedKeys, address, ({fingerprint, reason}) =>
      this.emit({fingerprint, reason, type: 'auth-rejected'}),
    )
    client.on('ready', () => {
      if (current) this.emit({host: current.gateway.host, port: current.gateway.port, type: 'connected'})
      this.connectedWaiters.wake()
      client.on('tcpip', (accept, reject) => {
        if (this.redialer.isStopped) {
          reject()
          return
        }

        const channel = new NodeChannel({
          client: {address, fingerprint: authenticated.fingerprint, user: authenticated.user},
          coalesce,
          gauge,
          handlerTimeoutMs: this.options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS,
          maxMessageBytes: this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
          nodeId: this.nodeId,
          onIdentified: () => current?.identified(),
          onProtocolError: (error) => this.emit({error, type: 'protocol-error'}),
          router: this.options.router,
          stream: accept(),
          tracebacks: this.options.tracebacks ?? false,
          traffic: this.options.traffic,
        })
        channels.add(channel)
      })
      client.on('session', (_accept, reject) => reject())
    })
  }
}

/** One connection to a gateway as the Redialer sees it: the socket, and the SSH connection on it once there. */
class GatewayLink implements DialedSession {
  client: ssh2.Connection | undefined
  readonly ready: Promise<void>
  readonly closed: Promise<LinkEnd>
  /** The gateway authenticated and sent IDENTIFY: the handshake is done. */
  identified!: () => void
  private reason: string | undefined

  constructor(
    readonly socket: Duplex,
    readonly gateway: GatewayAddress,
  ) {
    this.ready = new Promise((resolve) => (this.identified = resolve))
    socket.on('error', (error) => (this.reason ??= `connection error: ${error.message}`))
    this.closed = new Promise((resolve) => socket.on('close', () => resolve({reason: this.reason})))
  }

  close(): void {
    this.client?.end()
  }

  destroy(reason?: string): void {
    this.reason ??= reason
    this.socket.destroy()
  }
}

/** TCP with Nagle off and keepalive; a connect that takes longer than timeoutMs (a black hole), or is aborted, fails. */
function dialTcp(to: {host: string; port: number}, timeoutMs: number, signal?: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    // TCP keepalive notices a gateway that vanished without closing (the SSH server side sends no pings).
    const socket = netConnect({host: to.host, keepAlive: true, keepAliveInitialDelay: 15_000, noDelay: true, port: to.port})
    const timer = setTimeout(() => socket.destroy(new Error(`TCP connect timed out after ${timeoutMs} ms`)), timeoutMs)
    const abort = (): void => void socket.destroy(new Error('the node was closed'))
    signal?.addEventListener('abort', abort, {once: true})
    socket.once('connect', () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', abort)
      socket.off('error', fail)
      resolve(socket)
    })
    const fail = (error: Error): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', abort)
      reject(error)
    }

    socket.once('error', fail)
  })
}
