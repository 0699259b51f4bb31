// A pipe node: dials the hub over TLS with its client certificate, checks the hub's certificate and
// name against the CA, and keeps one PipeSession up forever: redial with exponential backoff and
// jitter, reset after a stable connection. Every state change is reported through onEvent.
import {isIP} from 'node:net'
import {type ConnectionOptions, type TLSSocket, checkServerIdentity, connect as tlsConnect} from 'node:tls'
import {RestwireError, errnoCode} from '../errors.js'
import {STABLE_CONNECTION_MS, nextBackoffMs} from '../backoff.js'
import {DEFAULT_AWAIT_PEER_MS, type PipeTuning, tlsReason, tuning} from './hub.js'
import {type EventHandler, type PipeEvent, type PipeReply, PipeSession, type SendOptions} from './session.js'
import type {PipeIdentity} from './tls-identity.js'

/** Bound on TCP connect, TLS and the hub's HELLO; then the node gives up on this attempt and redials. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000

export interface PipeNodeOptions extends PipeTuning {
  identity: PipeIdentity
  to: {host: string; port: number}
  /** The name the hub's certificate must carry. Default: the host of `to`. */
  hubName?: string
  handler: EventHandler
  backoff?: {initialMs?: number; maxMs?: number}
  /** Bound on connect, TLS and the hub's HELLO (default 10 s); a hub that stays silent is redialled. */
  handshakeTimeoutMs?: number
  /** How long a request waits for the hub when the node is between connections, before 503. */
  awaitHubMs?: number
  /** The transport (tests pass one that goes through a proxy). Default: node:tls connect. */
  connect?: (options: ConnectionOptions) => TLSSocket
  onEvent?: (event: PipeNodeEvent) => void
}

export type PipeNodeEvent =
  | {type: 'connecting'; host: string; port: number; attempt: number}
  | {type: 'connected'; host: string; port: number}
  | {type: 'disconnected'; reason: string}
  /** `code`: the errno of the dial that failed (`ENOTFOUND`, `EAI_AGAIN`: the hub's name does not resolve). */
  | {type: 'retrying'; delayMs: number; attempt: number; code?: string}

export interface PipeNodeHandle {
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
  private session: PipeSession | undefined
  private stopped = false
  private waiters: Array<() => void> = []
  private retryTimer: NodeJS.Timeout | undefined
  private wakeRetry: (() => void) | undefined

  constructor(private readonly options: PipeNodeOptions) {
    const done = this.loop()
    let closing: Promise<void> | undefined
    this.handle = {
      close: () => (closing ??= this.stop(done)),
      connected: () => (this.session ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve))),
      inFlight: () => this.session?.inFlight ?? 0,
      isConnected: () => this.session !== undefined,
      request: (event, sendOptions) => this.request(event, sendOptions),
    }
  }

  private emit(event: PipeNodeEvent): void {
    this.options.onEvent?.(event)
  }

  private request(event: PipeEvent, options: SendOptions): Promise<PipeReply> {
    // Connected: straight to the session, without an async function's extra promise per event.
    return this.session ? this.session.request(event, options) : this.requestWhenConnected(event, options)
  }

  private async requestWhenConnected(event: PipeEvent, options: SendOptions): Promise<PipeReply> {
    if (!this.session && !this.stopped) {
      const awaitMs = Math.min(this.options.awaitHubMs ?? DEFAULT_AWAIT_PEER_MS, options.timeoutMs)
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer)
          resolve()
        }

        const timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(wake), 1)
          resolve()
        }, awaitMs)
        this.waiters.push(wake)
      })
    }

    if (!this.session) throw new RestwireError('RW_ERR_CLOSED', `not connected to the hub at ${this.options.to.host}:${this.options.to.port}`, {details: {status: 503}})
    return this.session.request(event, options)
  }

  private async loop(): Promise<void> {
    let attempt = 0
    while (!this.stopped) {
      attempt++
      const started = Date.now()
      const {code, reason} = await this.connectOnce(attempt)
      this.emit({reason, type: 'disconnected'})
      if (this.stopped) break
      if (Date.now() - started >= STABLE_CONNECTION_MS) attempt = 1
      const delayMs = nextBackoffMs(attempt, this.options.backoff)
      this.emit({attempt, code, delayMs, type: 'retrying'})
      await new Promise<void>((resolve) => {
        this.wakeRetry = resolve
        this.retryTimer = setTimeout(resolve, delayMs)
      })
    }
  }

  /** One connection from dial to close; resolves with why it ended (and the errno of a failed dial). */
  private connectOnce(attempt: number): Promise<{reason: string; code?: string}> {
    const {host, port} = this.options.to
    const hubName = this.options.hubName ?? host
    this.emit({attempt, host, port, type: 'connecting'})
    const {identity} = this.options
    return new Promise<{reason: string; code?: string}>((resolve) => {
      const socket = (this.options.connect ?? tlsConnect)({
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
      let reason: string | undefined
      let code: string | undefined
      const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
      const connectTimer = setTimeout(() => {
        reason = `no TLS handshake and HELLO from ${host}:${port} within ${timeoutMs} ms`
        socket.destroy()
      }, timeoutMs)
      socket.on('error', (error) => {
        code ??= errnoCode(error)
        reason ??= dialFailure(host, port, error)
      })
      socket.once('secureConnect', () => {
        socket.setNoDelay(true)
        if (this.stopped) {
          socket.destroy()
          return
        }

        this.session = new PipeSession({
          ...tuning(this.options),
          handler: this.options.handler,
          onHello: () => clearTimeout(connectTimer),
          onClose: (why) => {
            reason ??= why
            this.session = undefined
          },
          peer: hubName,
          role: 'node',
          socket,
        })
        this.emit({host, port, type: 'connected'})
        for (const wake of this.waiters.splice(0)) wake()
      })
      socket.once('close', () => {
        clearTimeout(connectTimer)
        this.session = undefined
        resolve({code, reason: reason ?? (this.stopped ? 'node closed' : 'the hub closed the connection')})
      })
    })
  }

  private async stop(done: Promise<void>): Promise<void> {
    this.stopped = true
    clearTimeout(this.retryTimer)
    this.wakeRetry?.()
    for (const wake of this.waiters.splice(0)) wake()
    this.session?.close('the node is shutting down')
    await done
  }
}

function dialFailure(host: string, port: number, error: Error): string {
  const code = errnoCode(error)
  if (code === 'ECONNREFUSED') return `cannot connect to ${host}:${port}: connection refused`
  if (code === 'ENOTFOUND') return `cannot resolve ${host}: no such host`
  if (code === 'EAI_AGAIN') return `cannot resolve ${host}: the name server did not answer`
  return `TLS with ${host}:${port} failed: ${tlsReason(error)}`
}
