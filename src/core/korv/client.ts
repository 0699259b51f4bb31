// The korv client: one SSH connection, one direct-tcpip channel, many requests in flight on it.
import type {Duplex} from 'node:stream'
import type ssh2 from 'ssh2'
import SshClient from 'ssh2/lib/client.js'
import {PeerGoneError, RestwireError, TimeoutError, errnoCode, errorForCode, isRestwireError} from '../errors.js'
import {DEFAULT_MAX_MESSAGE_BYTES, GzipMemberDecoder} from '../framing/gzip-member.js'
import {FrameWriter} from '../framing/frame-writer.js'
import {blobKeyType} from '../ssh/key-blob.js'
import {sha256Fingerprint} from '../ssh/fingerprint.js'
import {KnownHosts, hostKeyError} from '../ssh/known-hosts.js'
import type {LoadedPrivateKey} from '../ssh/private-key.js'
import {type OnTrace, elapsedMs} from '../trace.js'
import {parseKorvResponse} from './messages.js'
import {KorvRequests, type KorvRequestOptions, type KorvResponse} from './requests.js'
import {DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_KORV_PORT, RESTWIRE_IDENT} from './defaults.js'

export {DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS} from './defaults.js'
export const DEFAULT_CLIENT_MAX_IN_FLIGHT = 512

/** strict: unknown and changed keys fail; accept-new: unknown keys are added (trust on first use); off: no check. */
export type HostKeyPolicy = 'strict' | 'accept-new' | 'off'

export interface KorvClientOptions {
  host?: string
  port?: number
  /** Any user name works with korv servers; it is sent as given. */
  user?: string
  identities?: LoadedPrivateKey[]
  /** ssh-agent socket to try after the identities. */
  agent?: string
  knownHostsPath?: string
  hostKeyPolicy?: HostKeyPolicy
  /** The command that would trust this host, for the unknown-host error. */
  trustCommand?: string
  /**
   * The authorized_keys file a server on this machine reads by default (the restwire home's), named in
   * the authentication error's hint; set it only for a server on this machine.
   */
  localAuthorizedKeysPath?: string
  connectTimeoutMs?: number
  requestTimeoutMs?: number
  maxMessageBytes?: number
  /** Requests beyond this many wait locally until earlier ones finish. */
  maxInFlight?: number
  /** The transport: returns a connected byte stream. Default: TCP to host:port. */
  connect?: () => Promise<Duplex>
  /** Connection steps for `-v`: address, handshake, host key check, authentication (never key material). */
  onTrace?: OnTrace
}

export type {KorvRequestOptions, KorvResponse} from './requests.js'

export class KorvClient implements AsyncDisposable {
  private readonly requests: KorvRequests
  private readonly writer: FrameWriter
  private sshClosed = false
  private lastOrphanError: {code: number; message: string} | undefined
  /** Resolves when the SSH connection has closed (a persisted connection's master exits then). */
  readonly sshClosedPromise: Promise<void>

  private constructor(
    private readonly ssh: ssh2.Client,
    channel: ssh2.ClientChannel,
    private readonly options: KorvClientOptions,
    /** The server decodes coalesced input (a restwire server); Korv's Python server does not. */
    readonly coalesce: boolean,
  ) {
    this.writer = new FrameWriter(channel, coalesce, 'tick')
    this.requests = new KorvRequests({
      defaultTimeoutMs: options.requestTimeoutMs,
      maxInFlight: options.maxInFlight ?? DEFAULT_CLIENT_MAX_IN_FLIGHT,
      send: (frame) => this.writer.write(frame),
    })
    const decoder = new GzipMemberDecoder({
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      onError: (error) => this.fail(errorForCode(error.code, `server sent an unreadable stream: ${error.message}`, {cause: error})),
      onMessage: (payload) => this.onResponse(payload),
    })
    channel.on('data', (chunk: Buffer) => decoder.push(chunk))
    channel.on('error', (error: Error) => this.fail(new PeerGoneError(`korv channel error: ${error.message}`, {cause: error})))
    channel.on('close', () => {
      // A server that closes after a framing error says why first, in a message with request_id 0.
      const reason = this.lastOrphanError
      if (reason?.code === 413) this.fail(new RestwireError('RW_ERR_FRAME_TOO_LARGE', `the server refused a request: ${reason.message}`))
      else this.fail(new PeerGoneError(`the server closed the korv channel${reason ? `: ${reason.message}` : ''}`))
    })
    this.sshClosedPromise = new Promise((resolve) => ssh.once('close', () => resolve()))
    ssh.on('close', () => {
      this.sshClosed = true
      this.fail(new PeerGoneError('the SSH connection closed'))
    })
    ssh.on('error', (error) => this.fail(new PeerGoneError(`SSH connection error: ${error.message}`, {cause: error})))
  }

  /** Connects, authenticates, verifies the host key and opens the korv channel. */
  static async connect(options: KorvClientOptions): Promise<KorvClient> {
    const host = options.host ?? '127.0.0.1'
    const port = options.port ?? DEFAULT_KORV_PORT
    const ssh = new SshClient()
    const trace = options.onTrace
    const offered: AuthOffer = {}
    if (trace) traceConnection(ssh, trace, host, port, Boolean(options.connect), offered)
    let hostKeyFailure: RestwireError | undefined
    const sock = options.connect ? await options.connect() : undefined
    sock?.on('error', () => {}) // ssh2 reports it as a client error
    // ssh2 can emit several errors for one failure (a handshake timeout, then "connection lost"): a
    // listener held for the client's whole life, never a once(), or the second one crashes the process.
    let settle: ((error?: Error & {level?: string}) => void) | undefined
    ssh.on('error', (error: Error & {level?: string}) => settle?.(error))
    await new Promise<void>((resolve, reject) => {
      settle = (error) => {
        settle = undefined
        if (error) reject(hostKeyFailure ?? connectError(error, host, port, options))
        else resolve()
      }
      ssh.once('ready', () => settle?.())
      ssh.connect({
        authHandler: authHandler(authMethods(options), options, offered),
        host,
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
          verifyHostKey(key, host, port, options).then(
            () => verify(true),
            (error: RestwireError) => {
              hostKeyFailure = error
              verify(false)
            },
          )
        },
        ident: RESTWIRE_IDENT,
        keepaliveInterval: 15_000,
        port,
        readyTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        sock: sock as ssh2.ConnectConfig['sock'],
        username: options.user ?? 'korv',
      })
      // Small request/response packets must not wait for delayed ACKs (40 ms on Linux).
      ssh.setNoDelay(true)
    }).catch((error: unknown) => {
      ssh.end()
      sock?.destroy()
      throw error
    })
    const channel = await openKorvChannel(ssh, host, port).catch((error: unknown) => {
      ssh.end()
      throw error
    })
    // restwire servers decode coalesced input; Korv's Python server needs one message per packet.
    const remoteSoftware = (ssh as unknown as {_remoteVer?: string})._remoteVer ?? ''
    return new KorvClient(ssh, channel, options, remoteSoftware.startsWith('restwire'))
  }

  /**
   * Another korv channel on this SSH connection, as a raw byte stream (gzip members both ways): what a
   * persisted connection's master hands each `korv call` (persist-master.ts).
   */
  openChannel(): Promise<Duplex> {
    if (this.sshClosed) return Promise.reject(new PeerGoneError('the SSH connection closed'))
    return openKorvChannel(this.ssh, this.options.host ?? '127.0.0.1', this.options.port ?? DEFAULT_KORV_PORT)
  }

  get inFlight(): number {
    return this.requests.size
  }

  /** Sends one request; resolves with the response, whatever its status. */
  request(verb: string, resource: string, body: unknown = null, options: KorvRequestOptions = {}): Promise<KorvResponse> {
    return this.requests.request(verb, resource, body, options)
  }

  /** Fails what is still pending and closes the connection. Safe to call twice. */
  async close(): Promise<void> {
    this.fail(new PeerGoneError('the client was closed'))
    this.writer.close()
    if (this.sshClosed) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000)
      this.ssh.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      this.ssh.end()
    })
  }

  /**
   * Fails what is still pending and ends the connection from this side (SSH disconnect, then FIN), without
   * waiting for the server's side of the close: resolves once what this side sends has left the process
   * (its socket's `finish`). For a process that exits next (`korv call`'s fast path); else use close().
   */
  async end(): Promise<void> {
    const sock = (this.ssh as unknown as {_sock?: Duplex})._sock
    if (!sock || this.sshClosed) return this.close()
    this.fail(new PeerGoneError('the client was closed'))
    this.writer.close()
    if (sock.writableFinished || sock.destroyed) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000)
      const done = (): void => {
        clearTimeout(timer)
        resolve()
      }

      sock.once('finish', done)
      sock.once('close', done)
      this.ssh.end()
    })
  }

  /** `await using client = await KorvClient.connect(...)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  private onResponse(payload: Buffer): void {
    const response = parseKorvResponse(payload)
    // Korv's server sends a stray 400 with request_id 0 before STORE/UPDATE answers: ignore unknown ids.
    if (!response || this.requests.answer(response)) return
    const error = (response.body as {error?: unknown} | null)?.error
    if (response.code >= 400) this.lastOrphanError = {code: response.code, message: typeof error === 'string' ? error : JSON.stringify(response.body)}
  }

  private fail(error: RestwireError): void {
    this.requests.fail(error)
  }
}

/** Reports the TCP connection, the negotiated algorithms and the accepted method, each with its time. */
function traceConnection(ssh: ssh2.Client, trace: OnTrace, host: string, port: number, customTransport: boolean, offered: AuthOffer): void {
  const started = performance.now()
  let phase = started
  trace('info', customTransport ? `Connecting to ${host} port ${port} through the given transport` : `Trying ${host} port ${port}...`)
  ssh.once('connect', () => {
    trace('info', `Connected to ${host} port ${port} (connect ${elapsedMs(phase)})`)
    phase = performance.now()
  })
  ssh.once('handshake', (negotiated) => {
    const remote = (ssh as unknown as {_remoteVer?: string})._remoteVer
    if (remote) trace('info', `Remote software version ${remote}`)
    trace('info', `kex: ${negotiated.kex}, host key algorithm: ${negotiated.serverHostKey}`)
    // An AEAD cipher (…-gcm, chacha20-poly1305) has no separate MAC: ssh2 reports an empty one.
    for (const [direction, algorithms] of [['client->server', negotiated.cs], ['server->client', negotiated.sc]] as const) {
      trace('info', `cipher ${direction}: ${algorithms.cipher} MAC: ${algorithms.mac || '<implicit>'} compression: ${algorithms.compress}`)
    }
    trace('info', `SSH handshake done (handshake ${elapsedMs(phase)})`)
    phase = performance.now()
  })
  ssh.once('ready', () => trace('info', `Authenticated using ${offered.last ?? 'none'} (authentication ${elapsedMs(phase)}, total ${elapsedMs(started)})`))
}

/** The method last offered: the one the server accepted when it says "ready". */
interface AuthOffer {
  last?: string
}

/** ssh2's simple handler (each method once, in order) that also says which one it offers. */
function authHandler(methods: ssh2.AnyAuthMethod[], options: KorvClientOptions, offered: AuthOffer): ssh2.AuthHandlerMiddleware | ssh2.AnyAuthMethod[] {
  const trace = options.onTrace
  if (!trace) return methods
  const identities = options.identities ?? []
  let next = 0
  return (methodsLeft) => {
    const method = methods[next]
    if (method === undefined) {
      trace('info', `No more authentication methods to try (server allows: ${methodsLeft?.join(',') ?? 'unknown'})`)
      return false
    }

    const identity = identities[next++]
    offered.last = method.type === 'publickey' && identity ? `publickey ${identity.path} ${identity.type} ${identity.fingerprint}` : `the keys of ssh-agent (${options.agent})`
    trace('info', `Offering ${offered.last}`)
    return method
  }
}

function openKorvChannel(ssh: ssh2.Client, host: string, port: number): Promise<ssh2.ClientChannel> {
  return new Promise<ssh2.ClientChannel>((resolve, reject) => {
    ssh.forwardOut('127.0.0.1', 0, host, port, (error, stream) => {
      if (error) reject(new RestwireError('RW_ERR_PROTOCOL', `the server refused the korv channel: ${error.message}`, {cause: error}))
      else resolve(stream)
    })
  })
}

function authMethods(options: KorvClientOptions): ssh2.AnyAuthMethod[] {
  const username = options.user ?? 'korv'
  const methods: ssh2.AnyAuthMethod[] = (options.identities ?? []).map(
    (identity): ssh2.PublicKeyAuthMethod => ({key: identity.parsed ?? identity.privateKey, passphrase: identity.passphrase, type: 'publickey', username}),
  )
  if (options.agent) methods.push({agent: options.agent, type: 'agent', username} satisfies ssh2.AgentAuthMethod)
  return methods
}

async function verifyHostKey(blob: Buffer, host: string, port: number, options: KorvClientOptions): Promise<void> {
  const policy = options.hostKeyPolicy ?? 'strict'
  const keyType = blobKeyType(blob) ?? 'unknown'
  const trace = options.onTrace
  trace?.('info', `Server host key: ${keyType} ${sha256Fingerprint(blob)}`)
  if (policy === 'off') {
    trace?.('info', 'Host key not verified (--insecure)')
    return
  }

  if (!options.knownHostsPath) throw new RestwireError('RW_ERR_USAGE', 'no known_hosts file to verify the server against')
  const knownHosts = await KnownHosts.load(options.knownHostsPath)
  const status = knownHosts.check(host, port, keyType, blob)
  if (status === 'match') {
    trace?.('info', `Host key matches ${options.knownHostsPath}:${knownHosts.matchingLine(host, port, blob) ?? '?'}`)
    return
  }

  if (status === 'unknown' && policy === 'accept-new') {
    await knownHosts.add(host, port, keyType, blob)
    trace?.('info', `Host key unknown; added to ${options.knownHostsPath} (accept-new)`)
    return
  }

  trace?.('info', `Host key check failed: ${status} (${options.knownHostsPath})`)

  throw hostKeyError(status, {
    fingerprint: sha256Fingerprint(blob),
    host,
    keyType,
    knownHostsPath: options.knownHostsPath,
    port,
    trustCommand: options.trustCommand,
  })
}

function connectError(error: Error & {level?: string}, host: string, port: number, options: KorvClientOptions): RestwireError {
  if (isRestwireError(error)) return error
  const where = `${host}:${port}`
  if (error.level === 'client-authentication') {
    const tried = (options.identities ?? []).map((identity) => `${identity.path} (${identity.fingerprint})`)
    if (options.agent) tried.push('ssh-agent')
    return new RestwireError('RW_ERR_AUTH', `${where} rejected every key offered: ${tried.join(', ') || 'none'}`, {cause: error, hint: authHint(options)})
  }

  if (error.level === 'client-timeout') {
    const ms = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    return new TimeoutError(`no SSH handshake with ${where} within ${ms} ms`, {cause: error, hint: 'Raise --connect-timeout, or check that the server is up.', timeoutMs: ms})
  }

  const code = errnoCode(error)
  const reason = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'host not found' : error.message
  return new RestwireError('RW_ERR_CONNECT', `cannot connect to ${where}: ${reason}`, {cause: error})
}

/** Names the public key to add and where, and the command that makes a key already authorized. */
function authHint(options: KorvClientOptions): string {
  const key = options.identities?.[0]?.path
  const publicKey = key ? `${key}.pub` : 'your public key'
  const file = options.localAuthorizedKeysPath
    ? `the server's authorized_keys (a korv serve on this machine without --authorized-keys reads ${options.localAuthorizedKeysPath})`
    : "the server's authorized_keys file"
  return `Add ${publicKey} to ${file}, or make a key it trusts: restwire keys gen -f KEY --authorize AUTHORIZED_KEYS, then pass -i KEY.`
}
