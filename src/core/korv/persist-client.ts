// The client side of a persisted korv connection: `korv call` through the master's UNIX socket. It
// loads no ssh2 (the master holds the SSH connection and checked the host key): that is the speed of a
// reused connection. After the master's `ok` line the socket is a korv channel: gzip members both ways.
import {type Socket, createConnection} from 'node:net'
import {unlink} from 'node:fs/promises'
import {PeerGoneError, RestwireError, errnoCode, errorForCode} from '../errors.js'
import {DEFAULT_MAX_MESSAGE_BYTES, GzipMemberDecoder} from '../framing/gzip-member.js'
import {FrameWriter} from '../framing/frame-writer.js'
import {parseKorvResponse} from './messages.js'
import {KorvRequests, type KorvResponse} from './requests.js'
import {dirname} from 'node:path'
import {type PersistOp, checkPersistDir, encodeHello, errorFromWire, parseReply, readFirstLine} from './persist-socket.js'

export type PersistedResponse = KorvResponse

/** Requests over one korv channel that a master opened for this socket; the same calls as KorvClient's. */
export class PersistedKorvClient {
  private readonly writer: FrameWriter
  private readonly requests: KorvRequests

  constructor(
    private readonly socket: Socket,
    coalesce: boolean,
    readonly masterPid: number,
    maxInFlight: number,
  ) {
    this.writer = new FrameWriter(socket, coalesce)
    this.requests = new KorvRequests({maxInFlight, send: (frame) => this.writer.write(frame)})
    const decoder = new GzipMemberDecoder({
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      onError: (error) => this.fail(errorForCode(error.code, `server sent an unreadable stream: ${error.message}`, {cause: error})),
      onMessage: (payload) => this.onResponse(payload),
    })
    socket.on('data', (chunk: Buffer) => decoder.push(chunk))
    socket.on('error', () => {})
    socket.on('close', () => this.fail(new PeerGoneError(`the persisted connection (master pid ${masterPid}) closed before the answer arrived`)))
    socket.resume()
  }

  request(verb: string, resource: string, body: unknown = null, options: {timeoutMs?: number} = {}): Promise<PersistedResponse> {
    return this.requests.request(verb, resource, body, options)
  }

  /**
   * Ends this call's channel; the master and its SSH connection stay. Every answer has arrived (or been
   * given up on), so there is nothing to wait for: the master closes the channel when the socket goes.
   */
  async close(): Promise<void> {
    this.fail(new PeerGoneError('the client was closed'))
    this.writer.close()
    this.socket.destroy()
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
  | {state: 'open'; client: PersistedKorvClient}
  /** No master (no socket, or a stale one, now removed), or one for another target: connect directly. */
  | {state: 'absent'}

/**
 * Asks the master on `socketPath` for a korv channel. A missing socket, a stale one (removed here) or a
 * master that says the socket is not for this key is `absent`; a master that answers with an error
 * (the server refused the channel) throws it.
 */
export async function openPersisted(socketPath: string, key: string, options: {maxInFlight: number}): Promise<PersistedOpen> {
  const opened = await hello(socketPath, key, 'call')
  if (!opened) return {state: 'absent'}
  const {reply, socket} = opened
  if (!reply.ok) {
    socket.destroy()
    if (reply.code === 'RW_ERR_CONFIG') return {state: 'absent'}
    throw errorFromWire(reply)
  }

  return {client: new PersistedKorvClient(socket, reply.coalesce, reply.pid, options.maxInFlight), state: 'open'}
}

/** `--persist stop`: the master's pid when one was running for this key and is now stopping. */
export async function stopPersisted(socketPath: string, key: string): Promise<number | undefined> {
  const opened = await hello(socketPath, key, 'stop')
  if (!opened) return undefined
  opened.socket.destroy()
  if (!opened.reply.ok) {
    if (opened.reply.code === 'RW_ERR_CONFIG') return undefined
    throw errorFromWire(opened.reply)
  }

  return opened.reply.pid
}

async function hello(socketPath: string, key: string, op: PersistOp): Promise<{socket: Socket; reply: ReturnType<typeof parseReply> & object} | undefined> {
  try {
    await checkPersistDir(dirname(socketPath))
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined
    throw error
  }

  const socket = createConnection(socketPath)
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
  } catch (error) {
    socket.destroy()
    const code = errnoCode(error)
    // A master that died left its socket: nothing listens on it any more.
    if (code === 'ECONNREFUSED') await unlink(socketPath).catch(() => {})
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return undefined
    throw new RestwireError('RW_ERR_CONNECT', `cannot reach the persisted connection at ${socketPath}: ${(error as Error).message}`, {cause: error})
  }

  socket.setNoDelay?.(true)
  socket.write(encodeHello(key, op))
  let line: string
  try {
    line = await readFirstLine(socket)
  } catch {
    // The master went away between accept and its answer: as if there were none.
    socket.destroy()
    return undefined
  }

  const reply = parseReply(line)
  if (!reply) {
    socket.destroy()
    throw new RestwireError('RW_ERR_PROTOCOL', `${socketPath} is not a restwire persisted connection`)
  }

  return {reply, socket}
}

