// The korv server: an SSH server whose direct-tcpip channels carry gzip-member korv messages (Korv 0.2)
// and whose `korv` session subsystem carries the same messages as NDJSON, for plain OpenSSH clients.
import {type AddressInfo, type Server as NetServer, type Socket, createServer} from 'node:net'
import ssh2 from 'ssh2'
import {formatHostPort} from '../address.js'
import {RestwireError} from '../errors.js'
import {listenOn} from '../listen.js'
import {DEFAULT_MAX_MESSAGE_BYTES} from '../framing/gzip-member.js'
import {DEFAULT_HANDLER_TIMEOUT_MS} from '../message/invoke.js'
import type {Handler, RequestHandler} from '../message/request.js'
import {Router} from '../message/router.js'
import type {AuthorizedKeysFile} from '../ssh/authorized-keys.js'
import {acceptPublicKeys} from '../ssh/server-auth.js'
import {type StartupRefusal, StartupGate, type StartupTicket} from '../startup-gate.js'
import {DEFAULT_DRAIN_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_KORV_PORT, DEFAULT_MAX_CHANNELS, DEFAULT_MAX_IN_FLIGHT, KORV_SUBSYSTEM, RESTWIRE_IDENT} from './defaults.js'
import {ConnectionDecodeBudget, DEFAULT_MAX_PARTIAL_BYTES_PER_CONNECTION, DEFAULT_MAX_PARTIAL_BYTES_TOTAL, DecodeBudget} from './decode-budget.js'
import {canonicalVerb} from './messages.js'
import {ChannelSession, type InFlightGauge, type KorvFraming, type KorvLimits, type KorvRequestLog} from './channel-session.js'
import {withAsyncDispose} from '../dispose.js'
import type {ConnectedClients, ConnectionStats, TrafficLog} from '../observe/traffic.js'


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
  /** Send the stack trace of a failing handler in the 500 body (Korv does). Default false: it tells clients about the server's code. */
  tracebacks?: boolean
  /** Time from the TCP accept to authentication (OpenSSH's LoginGraceTime). Default 30 s. */
  loginGraceMs?: number
  /** Connections still authenticating at once; the excess is refused on accept (OpenSSH's MaxStartups). Default 100. */
  maxStartups?: number
  /** korv channels one connection may have open at once; more are refused. Default 16. */
  maxChannels?: number
  /** Bytes of unfinished messages one connection may hold across its channels. Default 32 MiB. */
  maxPartialBytesPerConnection?: number
  /** Bytes of unfinished messages all connections together may hold. Default 256 MiB. */
  maxPartialBytesTotal?: number
  onRequest?: (entry: KorvRequestLog) => void
  /** Each finished request as a traffic record (metrics, inspector); none built without it. */
  traffic?: TrafficLog
  /** Connection-level events for the log: auth failures, protocol errors, disconnects. */
  onEvent?: (event: KorvServerEvent) => void
}

export type KorvServerEvent =
  | {type: 'auth-rejected'; address?: string; reason: string; fingerprint?: string}
  | {type: 'protocol-error'; address?: string; framing: KorvFraming; error: RestwireError}
  | {type: 'connection-error'; address?: string; error: Error}
  | {type: 'idle-timeout'; address?: string}
  /** The startup gate closed a connection: too many authenticating (`cap`) or not authenticated in time (`grace`). */
  | {type: 'startup-refused'; address?: string; reason: StartupRefusal}
  | {type: 'channel-refused'; address?: string; reason: string}

export type KorvConnectionStats = ConnectionStats

export interface KorvServerHandle extends AsyncDisposable {
  address: AddressInfo
  /** Connections now, for metrics gauges. */
  connectionStats(): KorvConnectionStats
  /** The authenticated connections now (at most `limit` of them) and their number, for the inspector. */
  clients(limit: number): ConnectedClients
  /** Stops accepting, lets in-flight requests finish for up to `drainMs`, then closes every connection. */
  close(options?: {drainMs?: number}): Promise<void>
}

export class KorvServer {
  readonly router = new Router()
  private readonly ssh: ssh2.Server
  /** Accepts TCP itself so that the login grace time runs from the accept, not from the client's SSH ident. */
  private readonly tcp: NetServer
  private readonly gate: StartupGate
  private readonly tickets = new WeakMap<Socket, StartupTicket>()
  /** Sockets admitted and not yet authenticated: shutdown destroys them rather than wait out their grace time. */
  private readonly unauthenticated = new Set<Socket>()
  private readonly decodeBudget: DecodeBudget
  private readonly handler: RequestHandler
  private readonly limits: KorvLimits
  private readonly connections = new Set<ssh2.Connection>()
  /** Each authenticated connection's in-flight gauge, and who it is (the inspector lists them). */
  private readonly gauges = new Map<InFlightGauge, {id: string; address?: string; fingerprint?: string; since: number}>()
  private drained: (() => void) | undefined
  private messageId = 0
  private closing: Promise<void> | undefined
  private listening = false

  constructor(private readonly options: KorvServerOptions) {
    this.handler = options.handler ?? this.router.handle
    this.limits = {
      handlerTimeoutMs: options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      tracebacks: options.tracebacks ?? false,
    }
    this.decodeBudget = new DecodeBudget(options.maxPartialBytesTotal ?? DEFAULT_MAX_PARTIAL_BYTES_TOTAL)
    const hostKeys = options.hostKeys.map(({passphrase, privateKey}) => ({key: privateKey, passphrase}))
    this.ssh = new ssh2.Server({hostKeys, ident: RESTWIRE_IDENT}, (client, info) => this.onConnection(client, info))
    this.ssh.on('error', () => {})
    this.gate = new StartupGate({
      graceMs: options.loginGraceMs,
      maxStartups: options.maxStartups,
      onRefused: (reason, socket) => this.options.onEvent?.({address: socket.remoteAddress, reason, type: 'startup-refused'}),
    })
    this.tcp = createServer((socket) => this.injectSocket(socket))
    this.tcp.on('error', () => {})
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
    await listenOn(this.tcp, this.options.host ?? '127.0.0.1', this.options.port ?? DEFAULT_KORV_PORT, 'korv clients')
    this.listening = true
    return withAsyncDispose<KorvServerHandle>({
      address: this.tcp.address() as AddressInfo,
      clients: (limit) => {
        const clients = []
        for (const [gauge, who] of this.gauges) {
          if (clients.length >= limit) break
          clients.push({...who, inFlight: gauge.count})
        }

        return {clients, total: this.gauges.size}
      },
      close: (options) => this.close(options),
      connectionStats: () => ({
        authenticating: this.gate.pending,
        inFlight: this.inFlightCount(),
        open: this.gauges.size + this.gate.pending,
        queues: [{depth: this.decodeBudget.held, highWater: this.decodeBudget.highWater, queue: 'partial_request_bytes'}],
      }),
    })
  }

  /** Serves an already-connected socket, under the same login grace time and startup cap as accepted ones. */
  injectSocket(socket: Socket): void {
    if (this.closing) {
      socket.destroy()
      return
    }

    const ticket = this.gate.admit(socket)
    if (!ticket) return
    this.tickets.set(socket, ticket)
    this.unauthenticated.add(socket)
    socket.once('close', () => this.unauthenticated.delete(socket))
    this.ssh.injectSocket(socket)
  }

  close(options: {drainMs?: number} = {}): Promise<void> {
    this.closing ??= this.shutdown(options.drainMs ?? DEFAULT_DRAIN_MS)
    return this.closing
  }

  private async shutdown(drainMs: number): Promise<void> {
    const stopped = this.listening ? new Promise<void>((resolve) => this.tcp.close(() => resolve())) : Promise.resolve()
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
    for (const socket of this.unauthenticated) socket.destroy()
    await stopped
  }

  private onConnection(client: ssh2.Connection, info: ssh2.ClientInfo): void {
    const address = info.ip
    // restwire peers decode coalesced input; Korv's Python client needs one message per packet.
    const coalesce = info.header.versions.software.startsWith('restwire')
    // Small request/response packets must not wait for delayed ACKs (40 ms on Linux).
    ;(client as ssh2.Connection & {setNoDelay(noDelay: boolean): void}).setNoDelay(true)
    this.connections.add(client)
    // The startup gate has timed this connection since its TCP accept (LoginGraceTime, MaxStartups).
    const socket = (client as unknown as {_sock: Socket})._sock
    const ticket = this.tickets.get(socket)
    client.on('close', () => {
      ticket?.authenticated()
      this.connections.delete(client)
    })
    client.on('error', (error) => this.options.onEvent?.({address, error, type: 'connection-error'}))
    const authenticated = acceptPublicKeys(client, this.options.authorizedKeys, address, ({fingerprint, reason}) =>
      this.options.onEvent?.({address, fingerprint, reason, type: 'auth-rejected'}),
    )
    client.on('ready', () => {
      ticket?.authenticated()
      this.unauthenticated.delete(socket)
      const gauge: InFlightGauge = {count: 0, max: this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT}
      const budget = new ConnectionDecodeBudget(this.decodeBudget, this.options.maxPartialBytesPerConnection ?? DEFAULT_MAX_PARTIAL_BYTES_PER_CONNECTION)
      const maxChannels = this.options.maxChannels ?? DEFAULT_MAX_CHANNELS
      let channels = 0
      const id = formatHostPort(address ?? '?', socket?.remotePort ?? 0)
      this.gauges.set(gauge, {address, fingerprint: authenticated.fingerprint, id, since: Date.now()})
      const idle = this.idleTimer(client, gauge, address)
      client.on('close', () => {
        this.gauges.delete(gauge)
        clearTimeout(idle)
      })
      const open = (stream: ssh2.ServerChannel, framing: KorvFraming): void => {
        channels++
        stream.on('close', () => channels--)
        new ChannelSession({
          budget,
          client: {address, fingerprint: authenticated.fingerprint, user: authenticated.user},
          coalesce: framing === 'ndjson' || coalesce,
          framing,
          gauge,
          handler: this.handler,
          limits: this.limits,
          nextMessageId: () => ++this.messageId,
          onProtocolError: (error) => this.options.onEvent?.({address, error, framing, type: 'protocol-error'}),
          onRequest: this.options.onRequest,
          onActivity: idle ? () => idle.refresh() : undefined,
          onSettled: () => this.onSettled(),
          stream,
          traffic: this.options.traffic,
        })
      }

      // Each channel holds decoder state and a window of buffered input: their number is capped.
      const refuseChannel = (reject: () => void): boolean => {
        if (this.closing) {
          reject()
          return true
        }

        if (channels < maxChannels) return false
        this.options.onEvent?.({address, reason: `more than ${maxChannels} korv channels on one connection`, type: 'channel-refused'})
        reject()
        return true
      }

      client.on('tcpip', (accept, reject) => {
        if (refuseChannel(reject)) return

        open(accept(), 'gzip')
      })
      client.on('session', (accept) => {
        const session = accept()
        session.on('subsystem', (acceptSubsystem, reject, subsystem) => {
          if (subsystem.name !== KORV_SUBSYSTEM) {
            reject()
            return
          }

          if (refuseChannel(reject)) return

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
    for (const gauge of this.gauges.keys()) count += gauge.count
    return count
  }

  private onSettled(): void {
    if (this.drained && this.inFlightCount() === 0) this.drained()
  }
}

export function createKorvServer(options: KorvServerOptions): KorvServer {
  return new KorvServer(options)
}
