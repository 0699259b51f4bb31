// The korv server: an SSH server whose direct-tcpip channels carry gzip-member korv messages (Korv 0.2)
// and whose `korv` session subsystem carries the same messages as NDJSON, for plain OpenSSH clients.
import type {AddressInfo, Server as NetServer, Socket} from 'node:net'
import ssh2 from 'ssh2'
import {RestwireError} from '../errors.js'
import {listenOn} from '../listen.js'
import {DEFAULT_MAX_MESSAGE_BYTES} from '../framing/gzip-member.js'
import {DEFAULT_HANDLER_TIMEOUT_MS} from '../message/invoke.js'
import type {Handler, RequestHandler} from '../message/request.js'
import {Router} from '../message/router.js'
import type {AuthorizedKeysFile} from '../ssh/authorized-keys.js'
import {acceptPublicKeys} from '../ssh/server-auth.js'
import {DEFAULT_DRAIN_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_KORV_PORT, DEFAULT_MAX_IN_FLIGHT, KORV_SUBSYSTEM, LOGIN_GRACE_MS, RESTWIRE_IDENT} from './defaults.js'
import {canonicalVerb} from './messages.js'
import {ChannelSession, type InFlightGauge, type KorvFraming, type KorvLimits, type KorvRequestLog} from './channel-session.js'


export interface KorvServerOptions {
  host?: string
  port?: number
  /** Host private keys (file contents) with their passphrases. */
  hostKeys: Array<{privateKey: Buffer | string; passphrase?: string}>
  authorizedKeys: AuthorizedKeysFile
  /** Handles every request; defaults to the server's router (see route()). */
  handler?: RequestHandler
  maxMessageBytes?: number
  maxInFlight?: number
  handlerTimeoutMs?: number
  /** Close a connection idle (no input, nothing in flight) this long; 0 = never. */
  idleTimeoutMs?: number
  /** Send the traceback of a failing handler in the 500 body (Korv does). Default true. */
  tracebacks?: boolean
  onRequest?: (entry: KorvRequestLog) => void
  /** Connection-level events for the log: auth failures, protocol errors, disconnects. */
  onEvent?: (event: KorvServerEvent) => void
}

export type KorvServerEvent =
  | {type: 'auth-rejected'; address?: string; reason: string; fingerprint?: string}
  | {type: 'protocol-error'; address?: string; framing: KorvFraming; error: RestwireError}
  | {type: 'connection-error'; address?: string; error: Error}
  | {type: 'idle-timeout'; address?: string}

export interface KorvServerHandle {
  address: AddressInfo
  /** Stops accepting, lets in-flight requests finish for up to `drainMs`, then closes every connection. */
  close(options?: {drainMs?: number}): Promise<void>
}

export class KorvServer {
  readonly router = new Router()
  private readonly ssh: ssh2.Server
  private readonly handler: RequestHandler
  private readonly limits: KorvLimits
  private readonly connections = new Set<ssh2.Connection>()
  private readonly gauges = new Set<InFlightGauge>()
  private drained: (() => void) | undefined
  private messageId = 0
  private closing: Promise<void> | undefined
  private listening = false

  constructor(private readonly options: KorvServerOptions) {
    this.handler = options.handler ?? this.router.handle
    this.limits = {
      handlerTimeoutMs: options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      tracebacks: options.tracebacks ?? true,
    }
    const hostKeys = options.hostKeys.map(({passphrase, privateKey}) => ({key: privateKey, passphrase}))
    this.ssh = new ssh2.Server({hostKeys, ident: RESTWIRE_IDENT}, (client, info) => this.onConnection(client, info))
    this.ssh.on('error', () => {})
  }

  /** Adds a route; POST, PUT and PATCH are registered as STORE, UPDATE and UPDATE, as requests arrive. */
  route(verb: string, path: string, handler: Handler): this {
    const canonical = canonicalVerb(verb)
    if (!canonical) throw new RestwireError('RW_ERR_CONFIG', `unknown korv verb "${verb}" for route ${path}; use GET, STORE, UPDATE or DELETE`)
    this.router.route(canonical, path, handler)
    return this
  }

  /** Binds and resolves once listening. Port 0 picks a free port. */
  async start(): Promise<KorvServerHandle> {
    const server = this.ssh as unknown as NetServer
    await listenOn(server, this.options.host ?? '127.0.0.1', this.options.port ?? DEFAULT_KORV_PORT, 'korv clients')
    this.listening = true
    return {address: server.address() as AddressInfo, close: (options) => this.close(options)}
  }

  /** Serves an already-connected socket (the tunnel's reversed direction uses this). */
  injectSocket(socket: Socket): void {
    this.ssh.injectSocket(socket)
  }

  close(options: {drainMs?: number} = {}): Promise<void> {
    this.closing ??= this.shutdown(options.drainMs ?? DEFAULT_DRAIN_MS)
    return this.closing
  }

  private async shutdown(drainMs: number): Promise<void> {
    const stopped = this.listening ? new Promise<void>((resolve) => this.ssh.close(() => resolve())) : Promise.resolve()
    if (this.inFlightCount() > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>((resolve) => (this.drained = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs))),
      ])
      clearTimeout(timer)
      // Responses are coalesced until the next turn of the event loop: let them go out first.
      await new Promise((resolve) => setImmediate(resolve))
    }

    for (const connection of this.connections) connection.end()
    await stopped
  }

  private onConnection(client: ssh2.Connection, info: ssh2.ClientInfo): void {
    const address = info.ip
    // restwire peers decode coalesced input; Korv's Python client needs one message per packet.
    const coalesce = info.header.versions.software.startsWith('restwire')
    // Small request/response packets must not wait for delayed ACKs (40 ms on Linux).
    ;(client as ssh2.Connection & {setNoDelay(noDelay: boolean): void}).setNoDelay(true)
    this.connections.add(client)
    // Like sshd's LoginGraceTime: a peer that has not authenticated in time is dropped.
    const grace = setTimeout(() => client.end(), LOGIN_GRACE_MS)
    client.on('close', () => {
      clearTimeout(grace)
      this.connections.delete(client)
    })
    client.on('error', (error) => this.options.onEvent?.({address, error, type: 'connection-error'}))
    const authenticated = acceptPublicKeys(client, this.options.authorizedKeys, address, ({fingerprint, reason}) =>
      this.options.onEvent?.({address, fingerprint, reason, type: 'auth-rejected'}),
    )
    client.on('ready', () => {
      clearTimeout(grace)
      const gauge: InFlightGauge = {count: 0, max: this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT}
      this.gauges.add(gauge)
      const idle = this.idleTimer(client, gauge, address)
      client.on('close', () => {
        this.gauges.delete(gauge)
        clearTimeout(idle)
      })
      const open = (stream: ssh2.ServerChannel, framing: KorvFraming): void => {
        new ChannelSession({
          client: {address, fingerprint: authenticated.fingerprint, user: authenticated.user},
          coalesce: framing === 'ndjson' || coalesce,
          framing,
          gauge,
          handler: this.handler,
          limits: this.limits,
          nextMessageId: () => ++this.messageId,
          onProtocolError: (error) => this.options.onEvent?.({address, error, framing, type: 'protocol-error'}),
          onRequest: (entry) => this.options.onRequest?.(entry),
          onActivity: idle ? () => idle.refresh() : undefined,
          onSettled: () => this.onSettled(),
          stream,
        })
      }

      client.on('tcpip', (accept, reject) => {
        if (this.closing) {
          reject()
          return
        }

        open(accept(), 'gzip')
      })
      client.on('session', (accept) => {
        const session = accept()
        session.on('subsystem', (acceptSubsystem, reject, subsystem) => {
          if (subsystem.name !== KORV_SUBSYSTEM || this.closing) {
            reject()
            return
          }

          open(acceptSubsystem(), 'ndjson')
        })
        for (const unsupported of ['exec', 'shell', 'pty', 'env', 'x11', 'auth-agent'] as const) {
          session.on(unsupported as 'exec', (_accept: unknown, reject?: () => void) => reject?.())
        }
      })
    })
  }

  private idleTimer(client: ssh2.Connection, gauge: InFlightGauge, address: string | undefined): NodeJS.Timeout | undefined {
    const idleMs = this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    if (idleMs <= 0) return undefined
    const timer: NodeJS.Timeout = setTimeout(() => {
      if (gauge.count > 0) {
        timer.refresh()
        return
      }

      this.options.onEvent?.({address, type: 'idle-timeout'})
      client.end()
    }, idleMs)
    return timer
  }

  private inFlightCount(): number {
    let count = 0
    for (const gauge of this.gauges) count += gauge.count
    return count
  }

  private onSettled(): void {
    if (this.drained && this.inFlightCount() === 0) this.drained()
  }
}

export function createKorvServer(options: KorvServerOptions): KorvServer {
  return new KorvServer(options)
}
