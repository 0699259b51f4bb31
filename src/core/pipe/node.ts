// A pipe node: dials the hub over TLS with its client certificate, checks the hub's certificate and
// name against the CA, and keeps one PipeSession up forever: redial with exponential backoff and
// jitter, reset after a stable connection. Given several hubs it holds one connection, to one of them
// (the link layer's Redialer picks which). Every state change is reported through onEvent.
import {isIP} from 'node:net'
import {type ConnectionOptions, type TLSSocket, checkServerIdentity, connect as tlsConnect} from 'node:tls'
import {formatHostPort} from '../address.js'
import {PeerGoneError, errnoCode} from '../errors.js'
import {Redialer} from '../link/redialer.js'
import type {DialedSession, LinkEnd} from '../link/session.js'
import {Waiters} from '../link/waiters.js'
import {DEFAULT_AWAIT_PEER_MS, type PipeTuning, tlsReason, tuning} from './hub.js'
import {type EventHandler, type PipeEvent, type PipeReply, PipeSession, type SendOptions} from './session.js'
import type {PipeIdentity} from './tls-identity.js'
import {withAsyncDispose} from '../dispose.js'
import type {TrafficLog} from '../observe/traffic.js'
import {observePipeHandler, observePipeRequest} from './traffic.js'

/** Bound on TCP connect, TLS and the hub's HELLO; then the node gives up on this attempt and redials. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000

export interface PipeNodeOptions extends PipeTuning {
  identity: PipeIdentity
  /** The hub, or several hubs that act as one: the node dials one at a time, the next when that fails. */
  to: HubAddress | readonly HubAddress[]
  /** The name every hub's certificate must carry. Default: the host dialled. */
  hubName?: string
  handler: EventHandler
  /** Events both ways as traffic records (metrics, inspector); none built without it. */
  traffic?: TrafficLog
  backoff?: {initialMs?: number; maxMs?: number}
  /** Bound on connect, TLS and the hub's HELLO (default 10 s); a hub that stays silent is redialled. */
  handshakeTimeoutMs?: number
  /** How long a request waits for the hub when the node is between connections, before 503. */
  awaitHubMs?: number
  /** The transport (tests pass one that goes through a proxy). Default: node:tls connect. */
  connect?: (options: ConnectionOptions) => TLSSocket
  onEvent?: (event: PipeNodeEvent) => void
}

export interface HubAddress {
  host: string
  port: number
}

export type PipeNodeEvent =
  | {type: 'connecting'; host: string; port: number; attempt: number}
  | {type: 'connected'; host: string; port: number}
  | {type: 'disconnected'; reason: string}
  /** `code`: the errno of the dial that failed (`ENOTFOUND`, `EAI_AGAIN`: the hub's name does not resolve). */
  | {type: 'retrying'; delayMs: number; attempt: number; code?: string}

export interface PipeNodeHandle extends AsyncDisposable {
  /** Resolves on the next successful handshake with the hub (at once when connected). */
  connected(): Promise<void>
  isConnected(): boolean
  /** Current connection's events in flight. */
  inFlight(): number
  request(event: PipeEvent, options: SendOptions): Promise<PipeReply>
  /** Stops redialling and closes the connection. Safe to call twice. */
  close(): Promise<void>
}

export function connectPipeNode(options: PipeNodeOptions): PipeNodeHandle {
  return new PipeNode(options).handle
}

class PipeNode {
  readonly handle: PipeNodeHandle
  private readonly waiters = new Waiters<void>()
  private readonly redialer: Redialer<HubLink, HubAddress>

  private readonly hubs: readonly HubAddress[]

  constructor(private readonly options: PipeNodeOptions) {
    this.hubs = Array.isArray(options.to) ? options.to : [options.to as HubAddress]
    const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
    this.redialer = new Redialer<HubLink, HubAddress>({
      backoff: options.backoff,
      closedReason: (stopped) => (stopped ? 'node closed' : 'the hub closed the connection'),
      dial: async (hub) =>
        new HubLink(options, hub, () => {
          this.emit({host: hub.host, port: hub.port, type: 'connected'})
          this.waiters.wake()
        }),
      dialFailed: (error, hub) => ({code: errnoCode(error), reason: dialFailure(hub.host, hub.port, error as Error)}),
      handshakeTimeoutMs: timeoutMs,
      handshakeTimeoutReason: (hub) => `no TLS handshake and HELLO from ${formatHostPort(hub.host, hub.port)} within ${timeoutMs} ms`,
      onEvent: (event) => {
        if (event.type === 'connecting') this.emit({attempt: event.attempt, host: event.target.host, port: event.target.port, type: 'connecting'})
        else if (event.type === 'disconnected') this.emit({reason: event.reason, type: 'disconnected'})
        else this.emit({attempt: event.attempt, code: event.code, delayMs: event.delayMs, type: 'retrying'})
      },
      stopReason: 'the node is shutting down',
      targets: this.hubs,
    })
    let closing: Promise<void> | undefined
    this.handle = withAsyncDispose<PipeNodeHandle>({
      close: () => (closing ??= this.stop()),
      connected: async () => {
        if (!this.session) await this.waiters.wait()
      },
      inFlight: () => this.session?.inFlight ?? 0,
      isConnected: () => this.session !== undefined,
      request: (event, sendOptions) =>
        options.traffic ? observePipeRequest(options.traffic, 'hub', event, (sent) => this.request(sent, sendOptions)) : this.request(event, sendOptions),
    })
  }

  private get session(): PipeSession | undefined {
    return this.redialer.current?.session
  }

  private emit(event: PipeNodeEvent): void {
    this.options.onEvent?.(event)
  }

  private request(event: PipeEvent, options: SendOptions): Promise<PipeReply> {
    // Connected: straight to the session, without an async function's extra promise per event.
    const session = this.session
    return session ? session.request(event, options) : this.requestWhenConnected(event, options)
  }

  private async requestWhenConnected(event: PipeEvent, options: SendOptions): Promise<PipeReply> {
    if (!this.session && !this.redialer.isStopped) await this.waiters.wait(Math.min(this.options.awaitHubMs ?? DEFAULT_AWAIT_PEER_MS, options.timeoutMs))
    const session = this.session
    if (!session) throw new PeerGoneError(`not connected to ${describeHubs(this.hubs)}`, {status: 503})
    return session.request(event, options)
  }

  private async stop(): Promise<void> {
    // stop() closes the session at once; the waiters then find no session and fail with 503.
    const stopped = this.redialer.stop()
    this.waiters.wake()
    await stopped
  }
}

/** One TLS connection to the hub as the Redialer sees it; the PipeSession on it once TLS is up. */
class HubLink implements DialedSession {
  session: PipeSession | undefined
  readonly ready: Promise<void>
  readonly closed: Promise<LinkEnd>
  private readonly socket: TLSSocket
  private reason: string | undefined
  private code: string | undefined
  private closing = false

  constructor(options: PipeNodeOptions, to: HubAddress, onConnected: () => void) {
    const {host, port} = to
    const hubName = options.hubName ?? host
    const {identity} = options
    let helloSeen!: () => void
    this.ready = new Promise((resolve) => (helloSeen = resolve))
    const socket = (options.connect ?? tlsConnect)({
      ca: identity.ca,
      cert: identity.cert,
      checkServerIdentity: (_host, cert) => checkServerIdentity(hubName, cert),
      host,
      key: identity.key,
      minVersion: 'TLSv1.2',
      port,
      rejectUnauthorized: true,
      servername: isIP(hubName) ? undefined : hubName,
    })
    this.socket = socket
    socket.on('error', (error) => {
      this.code ??= errnoCode(error)
      this.reason ??= dialFailure(host, port, error)
    })
    socket.once('secureConnect', () => {
      socket.setNoDelay(true)
      if (this.closing) {
        socket.destroy()
        return
      }

      this.session = new PipeSession({
        ...tuning(options),
        handler: options.traffic ? observePipeHandler(options.traffic, options.handler) : options.handler,
        onHello: helloSeen,
        onClose: (why) => {
          this.reason ??= why
          this.session = undefined
        },
        peer: hubName,
        role: 'node',
        socket,
      })
      onConnected()
    })
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.session = undefined
        resolve({code: this.code, reason: this.reason})
      }),
    )
  }

  close(reason: string): void {
    this.closing = true
    // Before TLS is up there is no one to tell why.
    if (this.session) this.session.close(reason)
    else this.socket.destroy()
  }

  destroy(reason?: string): void {
    this.reason ??= reason
    this.socket.destroy()
  }
}

/** "the hub at H:P", or "any of the hubs H:P, H:P" */
function describeHubs(hubs: readonly HubAddress[]): string {
  const list = hubs.map((hub) => formatHostPort(hub.host, hub.port)).join(', ')
  return hubs.length === 1 ? `the hub at ${list}` : `any of the hubs ${list}`
}

function dialFailure(host: string, port: number, error: Error): string {
  const code = errnoCode(error)
  if (code === 'ECONNREFUSED') return `cannot connect to ${host}:${port}: connection refused`
  if (code === 'ENOTFOUND') return `cannot resolve ${host}: no such host`
  if (code === 'EAI_AGAIN') return `cannot resolve ${host}: the name server did not answer`
  return `TLS with ${host}:${port} failed: ${tlsReason(error)}`
}
