// The tunnel node: dials TCP out to a gateway, acts as the SSH server on that socket and serves the
// gateway's requests from a router; redials forever with backoff and jitter unless `once`.
import {connect as netConnect} from 'node:net'
import type {Duplex} from 'node:stream'
import ssh2 from 'ssh2'
import {RestwireError, errnoCode} from '../errors.js'
import {DEFAULT_MAX_MESSAGE_BYTES} from '../framing/gzip-member.js'
import {DEFAULT_HANDLER_TIMEOUT_MS} from '../message/invoke.js'
import type {Router} from '../message/router.js'
import type {AuthorizedKeysFile} from '../ssh/authorized-keys.js'
import {sha256Fingerprint} from '../ssh/fingerprint.js'
import {acceptPublicKeys} from '../ssh/server-auth.js'
import {STABLE_CONNECTION_MS, nextBackoffMs} from '../backoff.js'
import {DEFAULT_MAX_IN_FLIGHT, DEFAULT_NODE_HANDSHAKE_TIMEOUT_MS, RESTWIRE_IDENT} from './defaults.js'
import {NodeChannel} from './node-channel.js'

export interface ExposeNodeOptions {
  /** The gateway to dial. */
  to: {host: string; port: number}
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
  /** The transport: returns a connected byte stream. Default: TCP with Nagle off. */
  connect?: (to: {host: string; port: number}) => Promise<Duplex>
  onEvent?: (event: TunnelNodeEvent) => void
}

export type TunnelNodeEvent =
  | {type: 'connecting'; host: string; port: number; attempt: number}
  | {type: 'connected'; host: string; port: number}
  | {type: 'disconnected'; reason: string}
  | {type: 'retrying'; delayMs: number; attempt: number}
  | {type: 'auth-rejected'; reason: string; fingerprint?: string}
  | {type: 'protocol-error'; error: RestwireError}

export interface TunnelNodeHandle {
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
  private readonly connectedWaiters: Array<() => void> = []
  private stopped = false
  private current: {socket: Duplex; client?: ssh2.Connection; identified(): void} | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private wakeRetry: (() => void) | undefined
  private closing: Promise<void> | undefined

  constructor(
    private readonly options: ExposeNodeOptions,
    readonly nodeId: string,
  ) {
    const hostKeys = options.hostKeys.map(({passphrase, privateKey}) => ({key: privateKey, passphrase}))
    this.ssh = new ssh2.Server({hostKeys, ident: RESTWIRE_IDENT}, (client, info) => this.onConnection(client, info))
    this.ssh.on('error', () => {})
    const done = this.loop()
    this.handle = {
      close: () => (this.closing ??= this.stop(done)),
      connected: () => new Promise<void>((resolve) => this.connectedWaiters.push(resolve)),
      done,
      nodeId,
    }
  }

  private emit(event: TunnelNodeEvent): void {
    this.options.onEvent?.(event)
  }

  private async loop(): Promise<void> {
    let attempt = 0
    while (!this.stopped) {
      attempt++
      const started = Date.now()
      const reason = await this.connectOnce(attempt)
      this.emit({reason, type: 'disconnected'})
      if (this.stopped || this.options.once) break
      // A connection that stayed up a while was healthy: start the backoff over.
      if (Date.now() - started >= STABLE_CONNECTION_MS) attempt = 1
      const delayMs = nextBackoffMs(attempt, this.options.backoff)
      this.emit({attempt, delayMs, type: 'retrying'})
      await new Promise<void>((resolve) => {
        this.wakeRetry = resolve
        this.retryTimer = setTimeout(resolve, delayMs)
      })
    }

    this.stopped = true
  }

  /** One connection from dial to close; resolves with why it ended. */
  private async connectOnce(attempt: number): Promise<string> {
    const {host, port} = this.options.to
    this.emit({attempt, host, port, type: 'connecting'})
    let socket: Duplex
    try {
      socket = await (this.options.connect ?? ((to) => dialTcp(to, this.options.handshakeTimeoutMs ?? DEFAULT_NODE_HANDSHAKE_TIMEOUT_MS)))(this.options.to)
    } catch (error) {
      const code = errnoCode(error)
      return `cannot connect to ${host}:${port}: ${code === 'ECONNREFUSED' ? 'connection refused' : (error as Error).message}`
    }

    if (this.stopped) {
      socket.destroy()
      return 'node closed'
    }

    return new Promise<string>((resolve) => {
      let reason: string | undefined
      const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULT_NODE_HANDSHAKE_TIMEOUT_MS
      const handshake = setTimeout(() => {
        reason ??= `the gateway did not finish the SSH handshake and IDENTIFY within ${timeoutMs} ms`
        socket.destroy()
      }, timeoutMs)
      const current = {identified: () => clearTimeout(handshake), socket}
      this.current = current
      socket.on('error', (error) => (reason ??= `connection error: ${error.message}`))
      socket.on('close', () => {
        clearTimeout(handshake)
        if (this.current === current) this.current = undefined
        resolve(reason ?? (this.stopped ? 'node closed' : 'the gateway closed the connection'))
      })
      this.ssh.injectSocket(socket as never)
    })
  }

  private onConnection(client: ssh2.Connection, info: ssh2.ClientInfo): void {
    const address = info.ip
    // restwire gateways decode coalesced input; rrssh's Python gateway needs one message per packet.
    const coalesce = info.header.versions.software.startsWith('restwire')
    // The handshake timer of connectOnce (from the TCP connect) bounds the authentication too.
    const current = this.current
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
      this.emit({host: this.options.to.host, port: this.options.to.port, type: 'connected'})
      for (const waiter of this.connectedWaiters.splice(0)) waiter()
      client.on('tcpip', (accept, reject) => {
        if (this.stopped) {
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
        })
        channels.add(channel)
      })
      client.on('session', (_accept, reject) => reject())
    })
  }

  private async stop(done: Promise<void>): Promise<void> {
    this.stopped = true
    clearTimeout(this.retryTimer)
    this.wakeRetry?.()
    const current = this.current
    if (current) {
      current.client?.end()
      // A gateway that never answers the disconnect must not hold close() up.
      setTimeout(() => current.socket.destroy(), 1000).unref()
    }

    await done
  }
}

/** TCP with Nagle off and keepalive; a connect that takes longer than timeoutMs (a black hole) fails. */
function dialTcp(to: {host: string; port: number}, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    // TCP keepalive notices a gateway that vanished without closing (the SSH server side sends no pings).
    const socket = netConnect({host: to.host, keepAlive: true, keepAliveInitialDelay: 15_000, noDelay: true, port: to.port})
    const timer = setTimeout(() => socket.destroy(new Error(`TCP connect timed out after ${timeoutMs} ms`)), timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.off('error', fail)
      resolve(socket)
    })
    const fail = (error: Error): void => {
      clearTimeout(timer)
      reject(error)
    }

    socket.once('error', fail)
  })
}
