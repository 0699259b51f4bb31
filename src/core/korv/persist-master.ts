// The master of a persisted korv connection (`korv call --persist 60s`), like OpenSSH's ControlMaster:
// it holds one SSH connection (host key checked and authenticated as any korv call) and serves later
// calls on a UNIX socket, handing each one a korv channel of its own on that connection. It ends after
// `idleMs` without a call, on `--persist stop`, or when the SSH connection closes; the socket goes with it.
import {chmod, unlink} from 'node:fs/promises'
import {type Server, type Socket, createConnection, createServer} from 'node:net'
import type {Duplex} from 'node:stream'
import {RestwireError, errnoCode, isRestwireError} from '../errors.js'
import {PERSIST_HEADER_TIMEOUT_MS, encodeReply, parseHello, readFirstLine} from './persist-socket.js'

/** What the master needs of its SSH connection (a KorvClient). */
export interface PersistedConnection {
  readonly coalesce: boolean
  readonly sshClosedPromise: Promise<void>
  openChannel(): Promise<Duplex>
  close(): Promise<void>
}

/** Channels open at once through one master; more calls wait their turn (korv serve allows 16 per connection). */
export const PERSIST_MAX_CHANNELS = 8

export interface PersistMasterOptions {
  connection: PersistedConnection
  socketPath: string
  /** The key of the target; a client with another key is told so and connects on its own. */
  key: string
  idleMs: number
  maxChannels?: number
}

export interface PersistMaster {
  /** Resolves once the master has stopped (idle, stop, or its SSH connection closed) and removed its socket. */
  readonly closed: Promise<string>
  close(reason?: string): Promise<void>
}

/** Listens on `socketPath` (mode 0600; refused if a live master has it) and serves calls until idle. */
export async function startPersistMaster(options: PersistMasterOptions): Promise<PersistMaster> {
  const {connection, key, socketPath} = options
  const maxChannels = options.maxChannels ?? PERSIST_MAX_CHANNELS
  const clients = new Set<Socket>()
  const waiting: Array<() => void> = []
  let channels = 0
  let idleTimer: NodeJS.Timeout | undefined
  let stopping = false
  let resolveClosed!: (reason: string) => void
  const closed = new Promise<string>((resolve) => (resolveClosed = resolve))

  const armIdle = (): void => {
    clearTimeout(idleTimer)
    if (clients.size === 0 && !stopping) idleTimer = setTimeout(() => void stop(`idle for ${options.idleMs} ms`), options.idleMs)
  }

  const server: Server = createServer((socket) => {
    clients.add(socket)
    clearTimeout(idleTimer)
    socket.on('error', () => {})
    socket.once('close', () => {
      clients.delete(socket)
      armIdle()
    })
    void serve(socket)
  })

  const serve = async (socket: Socket): Promise<void> => {
    const deadline = setTimeout(() => socket.destroy(), PERSIST_HEADER_TIMEOUT_MS)
    let line: string
    try {
      line = await readFirstLine(socket)
    } catch {
      socket.destroy()
      return
    } finally {
      clearTimeout(deadline)
    }

    const hello = parseHello(line)
    if (!hello) {
      socket.destroy()
      return
    }

    const pid = process.pid
    // A refused or finished socket: what the client sent after its hello (a request sent with it) is
    // dropped unread, so that its end is seen and the socket closes (a paused socket with data left in
    // it would never see it, and would hold `stop` and the idle timer for good).
    const finish = (reply: Parameters<typeof encodeReply>[0]): void => {
      socket.end(encodeReply(reply))
      socket.resume()
    }

    if (hello.key !== key) {
      finish({code: 'RW_ERR_CONFIG', message: 'this persisted connection is for another target', ok: false})
      return
    }

    if (hello.op === 'stop') {
      finish({coalesce: connection.coalesce, ok: true, pid})
      void stop('stopped (--persist stop)')
      return
    }

    if (channels >= maxChannels) await new Promise<void>((resolve) => waiting.push(resolve))
    if (socket.destroyed) {
      waiting.shift()?.()
      return
    }

    channels++
    let channel: Duplex
    try {
      channel = await takeChannel()
    } catch (error) {
      releaseChannel()
      const rw = isRestwireError(error) ? error : new RestwireError('RW_ERR_CONNECT', String(error))
      finish({code: rw.code, hint: rw.hint, message: rw.message, ok: false})
      return
    }

    let released = false
    const release = (): void => {
      if (released) return
      released = true
      releaseChannel()
    }

    socket.write(encodeReply({coalesce: connection.coalesce, ok: true, pid}))
    channel.on('error', () => socket.destroy())
    channel.once('close', () => {
      release()
      socket.end()
    })
    // A caller that leaves (done, killed) takes its channel with it.
    socket.once('close', () => {
      release()
      channel.destroy()
    })
    // The caller ending its side ends the channel's, so the server finishes what is in flight, then closes.
    socket.pipe(channel)
    channel.pipe(socket)
    socket.resume()
  }

  // One channel opened ahead, so that a call gets its channel without a round trip to the server: the
  // next call's is opened as soon as one is handed out. It counts against the server's channels per
  // connection (korv serve allows 16; this master uses at most maxChannels + 1). A spare the server
  // closes (or that fails) is dropped, and the call that finds none opens its own.
  interface Spare {
    channel?: Duplex
    opening: Promise<Duplex | undefined>
  }
  let spare = undefined as Spare | undefined
  const prepareSpare = (): void => {
    if (spare || stopping) return
    const entry: Spare = {
      opening: connection.openChannel().then(
        (channel) => {
          // A call may already be waiting for this one (takeChannel); only a stopping master drops it.
          if (stopping) {
            channel.destroy()
            return undefined
          }

          entry.channel = channel
          channel.on('error', () => {})
          channel.once('close', () => {
            if (spare === entry) spare = undefined
          })
          return channel
        },
        () => {
          if (spare === entry) spare = undefined
          return undefined
        },
      ),
    }
    spare = entry
  }

  const takeChannel = async (): Promise<Duplex> => {
    const entry = spare
    spare = undefined
    const ready = entry && (await entry.opening)
    // The next call's channel is opened once this call's request is on its way (a request sent with the
    // hello is passed on first, so the server does not open a channel before answering it).
    setImmediate(prepareSpare)
    if (ready && !ready.destroyed && ready.readable && ready.writable) return ready
    ready?.destroy()
    return connection.openChannel()
  }

  const releaseChannel = (): void => {
    channels--
    waiting.shift()?.()
  }

  const stop = async (reason: string): Promise<void> => {
    if (stopping) return
    stopping = true
    clearTimeout(idleTimer)
    spare?.channel?.destroy()
    spare = undefined
    await new Promise<void>((resolve) => server.close(() => resolve()))
    for (const socket of clients) socket.destroy()
    await unlink(socketPath).catch(() => {})
    await connection.close()
    resolveClosed(reason)
  }

  await listen(server, socketPath)
  void connection.sshClosedPromise.then(() => stop('the SSH connection closed'))
  prepareSpare()
  armIdle()
  return {close: (reason = 'closed') => stop(reason), closed}
}

/**
 * Creates the socket with mode 0600 from the start (umask), not chmod after: no moment when others could
 * connect. A socket file nobody listens on (a master that was killed) is replaced; a live one is refused.
 */
async function listen(server: Server, socketPath: string): Promise<void> {
  const attempt = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const umask = process.umask(0o177)
      server.once('error', reject)
      server.listen(socketPath, () => {
        server.off('error', reject)
        resolve()
      })
      process.umask(umask)
    })
  try {
    await attempt().catch(async (error: unknown) => {
      if (errnoCode(error) !== 'EADDRINUSE' || (await isLive(socketPath))) throw error
      await unlink(socketPath)
      await attempt()
    })
  } catch (error) {
    if (errnoCode(error) === 'EADDRINUSE') throw new RestwireError('RW_ERR_CONFIG', `a persisted connection already listens on ${socketPath}`, {cause: error})
    throw new RestwireError('RW_ERR_CONFIG', `cannot listen on ${socketPath}: ${(error as Error).message}`, {cause: error})
  }

  await chmod(socketPath, 0o600)
}

function isLive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(socketPath)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
}
