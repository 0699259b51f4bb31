// The client side of a persisted korv connection: `korv call` through the master's UNIX socket. It
// loads no ssh2 (the master holds the SSH connection and checked the host key): that is the speed of a
// reused connection. After the master's `ok` line the socket is a korv channel: gzip members both ways.
import {type Socket, createConnection} from 'node:net'
import {unlink} from 'node:fs/promises'
import {PeerGoneError, RestwireError, TimeoutError, errnoCode, errorForCode} from '../errors.js'
import {DEFAULT_MAX_MESSAGE_BYTES, GzipMemberDecoder} from '../framing/gzip-member.js'
import {FrameWriter} from '../framing/frame-writer.js'
import {DEFAULT_CONNECT_TIMEOUT_MS} from './defaults.js'
import {parseKorvResponse} from './messages.js'
import {KorvRequests, type KorvResponse} from './requests.js'
import {dirname} from 'node:path'
import {type PersistOp, checkPersistDir, encodeHello, errorFromWire, parseReply, readFirstLine} from './persist-socket.js'

export type PersistedResponse = KorvResponse

/** Requests over one korv channel that a master opened for this socket; the same calls as KorvClient's. */
export class PersistedKorvClient {
  private readonly writer: FrameWriter
  private readonly requests: KorvRequests
  /** The master's pid, from its answer (`listen`). */
  masterPid = 0

  /** Sends nothing and reads nothing until `listen`: requests made before it are written after the hello. */
  constructor(
    private readonly socket: Socket,
    coalesce: boolean,
    maxInFlight: number,
  ) {
    this.writer = new FrameWriter(socket, coalesce)
    this.requests = new KorvRequests({maxInFlight, send: (frame) => this.writer.write(frame)})
  }

  /** The master said yes (its `ok` line, read): what follows on the socket is the channel's answers. */
  listen(masterPid: number): this {
    this.masterPid = masterPid
    const decoder = new GzipMemberDecoder({
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      onError: (error) => this.fail(errorForCode(error.code, `server sent an unreadable stream: ${error.message}`, {cause: error})),
      onMessage: (payload) => this.onResponse(payload),
    })
    this.socket.on('data', (chunk: Buffer) => decoder.push(chunk))
    this.socket.on('close', () => this.fail(new PeerGoneError(`the persisted connection (master pid ${this.masterPid}) closed before the answer arrived`)))
    this.socket.resume()
    return this
  }

  request(verb: string, resource: string, body: unknown = null, options: {timeoutMs?: number} = {}): Promise<PersistedResponse> {
    return this.requests.request(verb, resource, body, options)
  }

  /**
   * Ends this call's channel; the master and its SSH connection stay. Every answer has arrived (or been
   * given up on), so there is nothing to wait for: the master closes the channel when the socket goes.
   */
  async close(): Promise<void> {
    this.release()
    this.socket.destroy()
  }

  /**
   * close() for a process that exits next (`korv call`'s fast path): the socket is left to close with the
   * process, unreferenced. Destroying a socket reads process.stderr (node:net compares them), which made
   * the stderr stream a plain call never used: 0.5 ms of its start.
   */
  release(): void {
    this.fail(new PeerGoneError('the client was closed'))
    this.writer.close()
    this.socket.unref()
  }

  private onResponse(payload: Buffer): void {
    const response = parseKorvResponse(payload)
    if (response) this.requests.answer(response)
  }

  private fail(error: RestwireError): void {
    this.requests.fail(error)
  }
}

export type PersistedOpen =
  /** `response`: the answer to the request sent with the hello (openPersisted's `first`). */
  | {state: 'open'; client: PersistedKorvClient; response?: Promise<PersistedResponse>}
  /** No master (no socket, or a stale one, now removed), or one for another target: connect directly. */
  | {state: 'absent'}

/**
 * Asks the master on `socketPath` for a korv channel. A missing socket, a stale one (removed here) or a
 * master that says the socket is not for this key is `absent`; a master that answers with an error
 * (the server refused the channel) throws it.
 *
 * With `first`, that request is written with the hello, in the same write, instead of after the master's
 * answer (one round trip to the master less; the master keeps what follows the hello line and passes it
 * on only once it has the channel): `response` is its answer. When the call ends up `absent` or throws,
 * the master has passed none of it on (it ends the socket without a channel), and the request is
 * dropped here without a word.
 */
export async function openPersisted(
  socketPath: string,
  key: string,
  options: {maxInFlight: number; connectTimeoutMs?: number; first?: {verb: string; resource: string; body: unknown; timeoutMs?: number}},
): Promise<PersistedOpen> {
  let client: PersistedKorvClient | undefined
  let response: Promise<PersistedResponse> | undefined
  const early = options.first
    ? (socket: Socket): void => {
        const {body, resource, timeoutMs, verb} = options.first!
        // One request, written as it is made: coalescing (the master's `coalesce`) is for many.
        client = new PersistedKorvClient(socket, false, options.maxInFlight)
        response = client.request(verb, resource, body, {timeoutMs})
        // Awaited by the caller once open; dropped (and so not to be reported) otherwise.
        response.catch(() => {})
      }
    : undefined
  let opened: Awaited<ReturnType<typeof hello>>
  try {
    opened = await hello(socketPath, key, 'call', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, early)
  } catch (error) {
    void client?.close()
    throw error
  }

  if (!opened) {
    void client?.close()
    return {state: 'absent'}
  }

  const {reply, socket} = opened
  if (!reply.ok) {
    void client?.close()
    socket.destroy()
    if (reply.code === 'RW_ERR_CONFIG') return {state: 'absent'}
    throw errorFromWire(reply)
  }

  client ??= new PersistedKorvClient(socket, reply.coalesce, options.maxInFlight)
  return {client: client.listen(reply.pid), response, state: 'open'}
}

/** `--persist stop`: the master's pid when one was running for this key and is now stopping. */
export async function stopPersisted(socketPath: string, key: string): Promise<number | undefined> {
  const opened = await hello(socketPath, key, 'stop', DEFAULT_CONNECT_TIMEOUT_MS)
  if (!opened) return undefined
  opened.socket.destroy()
  if (!opened.reply.ok) {
    if (opened.reply.code === 'RW_ERR_CONFIG') return undefined
    throw errorFromWire(opened.reply)
  }

  return opened.reply.pid
}

/**
 * `early` may write on the socket right after the hello (before the master's answer). A master that takes
 * the connection and never answers (stopped, stuck) fails it with RW_ERR_TIMEOUT after `timeoutMs`: the
 * call's --connect-timeout, which bounds the master's channel to the server too.
 */
async function hello(socketPath: string, key: string, op: PersistOp, timeoutMs: number, early?: (socket: Socket) => void): Promise<{socket: Socket; reply: ReturnType<typeof parseReply> & object} | undefined> {
  try {
    await checkPersistDir(dirname(socketPath))
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined
    throw error
  }

  const socket = createConnection(socketPath)
  socket.on('error', () => {})
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    socket.destroy(new Error('timed out'))
  }, timeoutMs)
  const timeout = (): TimeoutError =>
    new TimeoutError(`the persisted connection at ${socketPath} did not answer within ${timeoutMs} ms`, {
      hint: 'Its master process is stuck or overloaded: end it (or remove the socket) to connect directly.',
      timeoutMs,
    })
  // Written before the connection is up, corked: the hello and an early request go out in one write.
  socket.cork()
  socket.write(encodeHello(key, op))
  early?.(socket)
  socket.uncork()
  let line: string
  try {
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      })
    } catch (error) {
      socket.destroy()
      if (timedOut) throw timeout()
      const code = errnoCode(error)
      // A master that died left its socket: nothing listens on it any more.
      if (code === 'ECONNREFUSED') await unlink(socketPath).catch(() => {})
      if (code === 'ENOENT' || code === 'ECONNREFUSED') return undefined
      throw new RestwireError('RW_ERR_CONNECT', `cannot reach the persisted connection at ${socketPath}: ${(error as Error).message}`, {cause: error})
    }

    try {
      line = await readFirstLine(socket)
    } catch {
      socket.destroy()
      if (timedOut) throw timeout()
      // The master went away between accept and its answer: as if there were none.
      return undefined
    }
  } finally {
    clearTimeout(timer)
  }

  const reply = parseReply(line)
  if (!reply) {
    socket.destroy()
    throw new RestwireError('RW_ERR_PROTOCOL', `${socketPath} is not a restwire persisted connection`)
  }

  return {reply, socket}
}

