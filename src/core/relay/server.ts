// `startRelayServer`: listens on TCP or a UNIX socket, serves relay connections with the current config,
// swaps configs on reload without touching open connections, and drains on close.
import {chmodSync, lstatSync, statSync, unlinkSync} from 'node:fs'
import {type AddressInfo, type Server, type Socket, connect, createServer} from 'node:net'
import {dirname} from 'node:path'
import type {Dispatcher} from 'undici'
import {RestwireError, errnoCode} from '../errors.js'
import {settleWithin} from '../link/streams.js'
import {type RelayAddress, formatRelayAddress} from './address.js'
import type {RelayConfig} from './config.js'
import {RelayConnection, type RelayHost, type RelayRequestLog} from './connection.js'
import {FairScheduler} from './fair-scheduler.js'
import {DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, MAX_TIMER_MS} from './limits.js'
import {type RelayRuntime, buildRelayRuntime} from './runtime.js'
import {withAsyncDispose} from '../dispose.js'
import {createRefusalLog} from '../refusal-log.js'
import type {ConnectedClients, TrafficLog} from '../observe/traffic.js'

export const DEFAULT_SOCKET_MODE = 0o600
const DEFAULT_DRAIN_MS = 10_000
/** Something worth a log line that is not a request: the connection cap reached, a server socket error. */
export type RelayServerEvent = {event: 'connections refused'; reason: string; refused: number} | {event: 'server error'; reason: string}

export interface RelayServerOptions {
  config: RelayConfig
  listen: RelayAddress
  /** File mode of a UNIX socket (default 0600). */
  socketMode?: number
  /** Carries requests whose template has no `ca` of its own; default: an undici Agent per config. */
  dispatcher?: Dispatcher
  onRequest?: (entry: RelayRequestLog) => void
  /** Each request line as a traffic record (metrics, inspector); none built without it. */
  traffic?: TrafficLog
  onEvent?: (event: RelayServerEvent) => void
  /** Close a connection with no request in flight after this long without a complete line (default 5 min; 0: never). */
  idleTimeoutMs?: number
  /** Connections open at once; more are closed at accept (default 256). */
  maxConnections?: number
}

export interface RelayServer extends AsyncDisposable {
  /** `tcp://127.0.0.1:9876` (the real port when 0 was asked for) or `unix:/path`. */
  readonly address: string
  readonly port?: number
  readonly connections: number
  /** The client connections now (at most `limit` of them) and their number, for the inspector. */
  clients(limit: number): ConnectedClients
  /** Connections refused at accept (over --max-connections) since the start, for metrics. */
  readonly refusedConnections: number
  /** Serves new request lines with this config; requests in flight finish on the old one. */
  reload(config: RelayConfig): Promise<void>
  /** Stops accepting, lets in-flight requests answer (up to drainMs), then closes. Safe to call twice. */
  close(options?: {drainMs?: number}): Promise<void>
}

export async function startRelayServer(options: RelayServerOptions): Promise<RelayServer> {
  let runtime: RelayRuntime = await buildRelayRuntime(options.config, options.dispatcher)
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  const host: RelayHost = {
    idleTimeoutMs: Math.min(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, MAX_TIMER_MS),
    onRequest: options.onRequest,
    traffic: options.traffic,
    scheduler: new FairScheduler(options.config.maxConcurrency, options.config.maxConcurrencyPerConnection),
    get runtime() {
      return runtime
    },
  }
  /** Open connections, with their accept number (it names a UNIX socket client, which has no address). */
  const connections = new Map<RelayConnection, number>()
  let accepted = 0
  // No allowHalfOpen: a client's EOF is its disconnect, and cancels its requests (a daemon that went away
  // must not leave upstream calls running). Shell use: `relay send`, or socat with its input kept open.
  const refusals = createRefusalLog(
    (refused) => options.onEvent?.({event: 'connections refused', reason: `${maxConnections} connections open (--max-connections)`, refused}),
  )
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {})
    if (connections.size >= maxConnections) {
      // Refused at once; counted, and logged at most every 10 s (refusal-log.ts).
      socket.destroy()
      refusals.add()
      return
    }

    const connection = new RelayConnection(socket, host)
    connections.set(connection, ++accepted)
    socket.once('close', () => connections.delete(connection))
  })

  try {
    await listen(server, options.listen, options.socketMode ?? DEFAULT_SOCKET_MODE)
  } catch (error) {
    await runtime.close()
    throw error
  }

  // For its whole life: an accept error (EMFILE...) must not take the relay down.
  server.on('error', (error) => options.onEvent?.({event: 'server error', reason: error.message}))
  const info = server.address()
  const address = options.listen.kind === 'unix' ? options.listen : {...options.listen, port: (info as AddressInfo).port}
  let closing: Promise<void> | undefined
  return withAsyncDispose<RelayServer>({
    address: formatRelayAddress(address),
    close(closeOptions = {}) {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        await settleWithin(Promise.all([...connections.keys()].map((connection) => connection.drain())), closeOptions.drainMs ?? DEFAULT_DRAIN_MS)
        for (const connection of connections.keys()) connection.destroy()
        await closed
        refusals.close()
        await runtime.close()
      })()
      return closing
    },
    clients(limit) {
      const clients = []
      for (const [connection, number] of connections) {
        if (clients.length >= limit) break
        clients.push(connection.describe(`unix socket #${number}`))
      }

      return {clients, total: connections.size}
    },
    get connections() {
      return connections.size
    },
    get refusedConnections() {
      return refusals.total
    },
    port: address.kind === 'tcp' ? address.port : undefined,
    async reload(config) {
      const next = await buildRelayRuntime(config, options.dispatcher)
      const previous = runtime
      runtime = next
      host.scheduler.setLimit(config.maxConcurrency, config.maxConcurrencyPerConnection)
      previous.retire()
    },
  })
}

async function listen(server: Server, address: RelayAddress, socketMode: number): Promise<void> {
  if (address.kind === 'unix') await clearStaleSocket(address.path)
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenError(error, address)))
    if (address.kind === 'tcp') {
      server.listen(address.port, address.host, resolve)
      return
    }

    // The socket file is created inside listen(): a umask makes it private from its first moment (no
    // window in which another user could connect before the chmod).
    const previous = process.umask(0o777 & ~socketMode)
    try {
      server.listen(address.path, resolve)
    } finally {
      process.umask(previous)
    }
  })
  if (address.kind === 'unix') chmodSync(address.path, socketMode)
}

/** A socket file nobody listens on is left over from a relay that died: remove it. A live one, or any other file, is refused. */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = lstatSync(path).isSocket()
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return
    throw new RestwireError('RW_ERR_CONFIG', `cannot use ${path} for the relay socket: ${(error as Error).message}`, {cause: error})
  }

  if (!isSocket) throw new RestwireError('RW_ERR_CONFIG', `${path} exists and is not a socket; refusing to replace it`, {hint: 'Remove the file, or choose another --listen path.'})
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (live) {
    throw new RestwireError('RW_ERR_CONNECT', `another process is listening on ${path}`, {hint: 'Stop the other relay, or choose another --listen path.'})
  }

  unlinkSync(path)
}

function listenError(error: Error, address: RelayAddress): RestwireError {
  const where = formatRelayAddress(address)
  if (errnoCode(error) === 'EADDRINUSE') return new RestwireError('RW_ERR_CONNECT', `cannot listen on ${where}: address in use`, {cause: error, hint: 'Pick another --listen address, or stop the other server.'})
  if (address.kind === 'unix') {
    // The kernel reports a missing directory as EACCES or ENOENT; say which it is.
    const dir = dirname(address.path)
    const problem = directoryProblem(dir)
    if (problem) return new RestwireError('RW_ERR_CONNECT', `cannot listen on ${where}: ${problem}`, {cause: error, hint: `Create the directory (mkdir -p ${dir}), or choose another --listen path.`})
    if (errnoCode(error) === 'EACCES') {
      return new RestwireError('RW_ERR_CONNECT', `cannot listen on ${where}: permission denied to create a socket in ${dir}`, {cause: error, hint: 'Choose a --listen path in a directory you can write to.'})
    }
  }

  return new RestwireError('RW_ERR_CONNECT', `cannot listen on ${where}: ${error.message}`, {cause: error, hint: 'Check the --listen address.'})
}

function directoryProblem(dir: string): string | undefined {
  try {
    return statSync(dir).isDirectory() ? undefined : `${dir} is not a directory`
  } catch (error) {
    const code = errnoCode(error)
    if (code === 'ENOENT') return `the directory ${dir} does not exist`
    if (code === 'ENOTDIR') return `a parent of ${dir} is not a directory`
    return undefined
  }
}
