// One pipe connection, hub or node side: HELLO, heartbeats and dead-peer detection, and any number of
// events in flight both ways, each a stream with its own flow-controlled bodies. The socket is a
// parameter (a TLS socket in use, any Duplex in tests); the session never dials or listens.
import {RestwireError} from '../errors.js'
import {type BodySource, DEFAULT_WINDOW_BYTES, SendWindow, toBuffer} from './body-stream.js'
import type {PipeEvent, PipeReply, PipeSessionOptions, ReplySpec, SendOptions} from './event-types.js'
import {FrameQueue} from './frame-queue.js'
import {FLAG_END, FLAG_INLINE, type Frame, FrameDecoder, FrameType, type FrameTypeCode, MAX_FRAME_PAYLOAD_BYTES, frameTypeName} from './frames.js'
import {type BodyOwner, IncomingBody} from './incoming-body.js'
import {DEFAULT_MAX_BUFFERED_BYTES, ReadThrottle} from './read-throttle.js'
import {ReplyDeadlines} from './reply-deadlines.js'
import {IncomingEvent, Reply, type Stream, isEmptyBody, metaEnd} from './stream.js'
import {type EventMeta, PIPE_PROTOCOL_VERSION, errorText, type ReplyMeta, type ResetMeta, eventMetaLength, parseEventMeta, parseHello, parseJsonPayload, parseReplyMeta, parseResetMeta, replyMetaLength} from './messages.js'

import {DEFAULT_HEARTBEAT_MS} from './defaults.js'

export {DEFAULT_HEARTBEAT_MS} from './defaults.js'
export const DEFAULT_MAX_IN_FLIGHT = 1024
export const DEFAULT_MAX_READ_BYTES = 16 * 1024 * 1024
/** EVENT or REPLY metadata must fit one frame, with room for the INLINE length prefix. */
const MAX_META_BYTES = MAX_FRAME_PAYLOAD_BYTES - 2
type MetaFrameType = typeof FrameType.EVENT | typeof FrameType.REPLY
/** Bodies up to this size travel inside their EVENT or REPLY frame (INLINE). */
const INLINE_BODY_BYTES = 16 * 1024
/** A body pump pauses once this much is queued, until the queue is written and the socket drained. */
const FLUSH_BYTES = 512 * 1024
/** PINGs are not answered while this much output waits: a peer that reads nothing needs no PONG. */
const PONG_SKIP_BYTES = 64 * 1024

export type {EventHandler, IncomingPipeEvent, PipeEvent, PipeReply, PipeSessionOptions, ReplySpec, SendOptions} from './event-types.js'

export class PipeSession {
  readonly since = new Date()
  private readonly decoder: FrameDecoder
  private readonly streams = new Map<number, Stream>()
  private readonly windowBytes: number
  private readonly heartbeatMs: number
  private nextStreamId: number
  private readonly out: FrameQueue
  private helloSeen = false
  private readonly throttle: ReadThrottle
  private closedReason: string | undefined
  private readonly pingTimer: NodeJS.Timeout
  private readonly silenceTimer: NodeJS.Timeout
  private readonly deadlines = new ReplyDeadlines<Stream>((stream) => this.resetStream(stream, 504, `no reply within ${stream.timeoutMs} ms`))

  constructor(private readonly options: PipeSessionOptions) {
    this.windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
    this.nextStreamId = options.role === 'hub' ? 1 : 2
    this.out = new FrameQueue(options.socket)
    this.throttle = new ReadThrottle(options.socket, this.out, options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES)
    this.decoder = new FrameDecoder({onError: (error) => this.fail(error), onFrame: (frame) => this.onFrame(frame)})
    const {socket} = options
    socket.on('data', (chunk: Buffer) => {
      this.silenceTimer.refresh()
      try {
        this.decoder.push(chunk)
      } catch (error) {
        // A peer's frame must never reach the process as an uncaught exception: only this connection ends.
        this.fail(new RestwireError('RW_ERR_PROTOCOL', `a frame could not be handled: ${errorText(error)}`, {cause: error}))
        return
      }

      // One check per chunk (not per frame): the replies one chunk can cause are bounded by its size.
      this.throttle.check()
    })
    socket.on('drain', () => {
      // The peer reads what we send: it is alive even while we are not reading its frames.
      this.silenceTimer.refresh()
      this.throttle.drained()
    })
    socket.on('error', (error) => this.teardown(`connection error: ${error.message}`))
    socket.on('close', () => this.teardown('the peer closed the connection'))
    socket.on('end', () => socket.end())
    const timeoutMs = options.heartbeatTimeoutMs ?? this.heartbeatMs * 3
    this.silenceTimer = setTimeout(() => {
      // Not reading because our own readers are slow says nothing about the peer: wait for them.
      if (this.throttle.waitingForReaders) return void this.silenceTimer.refresh()
      this.close(`no heartbeat from ${options.peer} for ${timeoutMs} ms`, 'RW_ERR_TIMEOUT')
    }, timeoutMs)
    this.pingTimer = setInterval(() => this.send(FrameType.PING, 0, 0, Buffer.alloc(8)), this.heartbeatMs)
    this.sendJson(FrameType.HELLO, 0, 0, {heartbeatMs: this.heartbeatMs, role: options.role, version: PIPE_PROTOCOL_VERSION})
  }

  get peer(): string {
    return this.options.peer
  }

  get closed(): boolean {
    return this.closedReason !== undefined
  }

  get inFlight(): number {
    return this.streams.size
  }

  /** Sends one event; resolves when the reply starts (its body streams on). Fails with 503 if the connection drops. */
  request(event: PipeEvent, options: SendOptions): Promise<PipeReply> {
    if (this.closedReason !== undefined) return Promise.reject(this.closedError())
    const metaBytes = eventMetaLength(event)
    if (metaBytes < 0 || metaBytes > MAX_META_BYTES) {
      return Promise.reject(new RestwireError('RW_ERR_USAGE', `the event's verb, noun, arguments or content type are too long for one frame`, {details: {status: 400}}))
    }

    const id = this.nextStreamId
    this.nextStreamId += 2
    const stream: Stream = {deadline: 0, id, outgoing: true, timeoutMs: 0, window: new SendWindow(this.windowBytes)}
    this.streams.set(id, stream)
    const {body} = event
    const empty = isEmptyBody(body)
    const promise = new Promise<PipeReply>((resolve, reject) => {
      stream.reply = {reject, resolve}
    })
    this.deadlines.add(stream, options.timeoutMs)
    const {signal} = options
    if (signal) {
      const onAbort = (): void => this.resetStream(stream, 499, 'the caller went away')
      if (signal.aborted) onAbort()
      else {
        signal.addEventListener('abort', onAbort, {once: true})
        stream.cleanup = () => signal.removeEventListener('abort', onAbort)
      }
    }

    if (empty) this.sendMeta(FrameType.EVENT, FLAG_END, id, event, metaBytes)
    else if (!this.sendInline(FrameType.EVENT, stream, event, metaBytes, body!)) {
      this.sendMeta(FrameType.EVENT, 0, id, event, metaBytes)
      this.sendBody(stream, body!)
    }

    return promise
  }

  /** Says why (GOAWAY) and closes; every event in flight fails at once. Safe to call twice. */
  close(reason: string, code: 'RW_ERR_CLOSED' | 'RW_ERR_TIMEOUT' | 'RW_ERR_PROTOCOL' = 'RW_ERR_CLOSED'): void {
    if (this.closedReason !== undefined) return
    this.sendJson(FrameType.GOAWAY, 0, 0, {reason})
    this.out.flush()
    // end(), not destroy(): the GOAWAY must still reach the peer.
    this.teardown(reason, code === 'RW_ERR_CLOSED' ? undefined : new RestwireError(code, reason), false)
    this.options.socket.end()
    // A peer that never finishes the close must not keep the socket.
    setTimeout(() => this.options.socket.destroy(), 1000).unref()
  }

  private fail(error: RestwireError): void {
    this.close(`${error.message}`, 'RW_ERR_PROTOCOL')
  }

  private closedError(): RestwireError {
    return new RestwireError('RW_ERR_CLOSED', `the connection to ${this.options.peer} is closed: ${this.closedReason}`, {details: {status: 503}})
  }

  private teardown(reason: string, error?: RestwireError, destroy = true): void {
    if (this.closedReason !== undefined) return
    this.closedReason = reason
    clearInterval(this.pingTimer)
    clearTimeout(this.silenceTimer)
    this.deadlines.stop()
    const failure = this.closedError()
    for (const stream of this.streams.values()) this.endStream(stream, failure)
    this.streams.clear()
    this.out.close()
    if (destroy) this.options.socket.destroy()
    this.options.onClose?.(reason, error)
  }

  private onFrame(frame: Frame): void {
    if (!this.helloSeen && frame.type !== FrameType.GOAWAY) {
      if (frame.type !== FrameType.HELLO) return this.fail(new RestwireError('RW_ERR_PROTOCOL', `expected HELLO, got ${frameTypeName(frame.type)}`))
      const hello = parseHello(frame.payload)
      if (hello instanceof RestwireError) return this.fail(hello)
      this.helloSeen = true
      this.options.onHello?.()
      return
    }

    switch (frame.type) {
      case FrameType.PING: {
        if (this.options.socket.writableLength < PONG_SKIP_BYTES) this.send(FrameType.PONG, 0, 0, frame.payload)
        return
      }

      case FrameType.PONG: {
        return
      }

      case FrameType.GOAWAY: {
        const goaway = parseJsonPayload(frame.payload) as {reason?: unknown} | undefined
        this.teardown(`the peer closed the connection: ${typeof goaway?.reason === 'string' ? goaway.reason : 'no reason given'}`)
        return
      }

      case FrameType.EVENT: {
        this.onEvent(frame)
        return
      }

      case FrameType.HELLO: {
        this.fail(new RestwireError('RW_ERR_PROTOCOL', 'a second HELLO'))
        return
      }

      default: {
        this.onStreamFrame(frame)
      }
    }
  }

  private onEvent(frame: Frame): void {
    const peerParity = this.options.role === 'hub' ? 0 : 1
    if (frame.streamId % 2 !== peerParity || this.streams.has(frame.streamId)) {
      return this.fail(new RestwireError('RW_ERR_PROTOCOL', `an EVENT on stream ${frame.streamId}, which the peer may not open`))
    }

    const end = metaEnd(frame)
    const inline = (frame.flags & FLAG_INLINE) !== 0
    const meta = end < 0 ? new RestwireError('RW_ERR_PROTOCOL', 'INLINE metadata length exceeds the frame') : parseEventMeta(frame.payload, inline ? 2 : 0, end)
    if (meta instanceof RestwireError) return this.sendJson(FrameType.RESET, 0, frame.streamId, {code: 400, reason: meta.message} satisfies ResetMeta)
    if (this.streams.size >= (this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT)) {
      return this.sendJson(FrameType.RESET, 0, frame.streamId, {code: 503, reason: 'too many events in flight'} satisfies ResetMeta)
    }

    const stream: Stream = {deadline: 0, id: frame.streamId, outgoing: false, timeoutMs: 0, window: new SendWindow(this.windowBytes)}
    const body = this.bodyFor(stream)
    stream.body = body
    if (inline && end < frame.payload.length) {
      body.deliver(frame.payload.subarray(end))
      this.throttle.received(frame.payload.length - end)
    }

    if (frame.flags & FLAG_END) body.finish()
    this.streams.set(stream.id, stream)
    this.answer(stream, meta).catch((error: unknown) => this.resetStream(stream, 500, `the reply could not be sent: ${errorText(error)}`))
  }

  private async answer(stream: Stream, meta: EventMeta): Promise<void> {
    let reply: ReplySpec
    try {
      reply = await this.options.handler(new IncomingEvent(meta, stream, this.options.peer))
    } catch (error) {
      reply = {body: `handler failed: ${errorText(error)}`, code: 251, contentType: 'text/plain; charset=utf-8'}
    }

    let metaBytes = replyMetaLength(reply)
    if (metaBytes < 0 || metaBytes > MAX_META_BYTES) {
      ;(reply.body as {destroy?: () => void} | undefined)?.destroy?.()
      reply = {body: `handler failed: its reply has code ${reply.code} (not a 32-bit integer) or a content type too long for one frame`, code: 251, contentType: 'text/plain; charset=utf-8'}
      metaBytes = replyMetaLength(reply)
    }

    const {body} = reply
    if (this.streams.get(stream.id) !== stream) {
      // Reset or disconnected while the handler ran: release what it opened.
      ;(body as {destroy?: () => void} | undefined)?.destroy?.()
      return
    }

    if (isEmptyBody(body)) {
      this.sendMeta(FrameType.REPLY, FLAG_END, stream.id, reply, metaBytes)
      this.finishIncoming(stream)
    } else if (this.sendInline(FrameType.REPLY, stream, reply, metaBytes, body!)) {
      this.finishIncoming(stream)
    } else {
      this.sendMeta(FrameType.REPLY, 0, stream.id, reply, metaBytes)
      this.sendBody(stream, body!)
    }
  }

  /** EVENT or REPLY and a small body in one frame, when they fit one frame and the window. */
  private sendInline(type: MetaFrameType, stream: Stream, meta: EventMeta | ReplyMeta, metaBytes: number, body: BodySource): boolean {
    if (this.closedReason !== undefined) return false
    // A string is measured and written straight into the frame (no Buffer made for it first).
    let size: number
    if (typeof body === 'string') size = body.length > INLINE_BODY_BYTES ? INLINE_BODY_BYTES + 1 : Buffer.byteLength(body)
    else if (body instanceof Uint8Array) size = body.byteLength
    else return false
    if (size > INLINE_BODY_BYTES) return false
    if (2 + metaBytes + size > MAX_FRAME_PAYLOAD_BYTES || !stream.window.takeNow(size)) return false
    this.out.meta(type, FLAG_INLINE | FLAG_END, stream.id, meta, metaBytes, typeof body === 'string' ? body : toBuffer(body), size)
    return true
  }

  /** EVENT or REPLY with its metadata only (the body, if any, follows as DATA). */
  private sendMeta(type: MetaFrameType, flags: number, streamId: number, meta: EventMeta | ReplyMeta, metaBytes: number): void {
    if (this.closedReason === undefined) this.out.meta(type, flags, streamId, meta, metaBytes)
  }

  /** A body that fits one frame and the window goes out at once as DATA+END; others are pumped. */
  private sendBody(stream: Stream, body: BodySource): void {
    if (typeof body === 'string' || body instanceof Uint8Array) {
      const bytes = toBuffer(body)
      if (bytes.length <= MAX_FRAME_PAYLOAD_BYTES && stream.window.takeNow(bytes.length)) {
        this.send(FrameType.DATA, FLAG_END, stream.id, bytes)
        if (!stream.outgoing) this.finishIncoming(stream)
        return
      }
    }

    void this.pump(stream, body)
  }

  private onStreamFrame(frame: Frame): void {
    const stream = this.streams.get(frame.streamId)
    // Frames for a stream that already ended (reset, timed out) are expected in a race: drop them.
    if (!stream) return
    if (frame.type === FrameType.WINDOW) {
      if (frame.payload.length !== 4) return this.fail(new RestwireError('RW_ERR_PROTOCOL', 'a WINDOW frame without a 4-byte increment'))
      stream.window.add(frame.payload.readUInt32BE(0))
    } else if (frame.type === FrameType.RESET) {
      const reset = parseResetMeta(frame.payload)
      const status = reset.code >= 400 && reset.code <= 599 ? reset.code : 502
      this.forget(stream)
      this.endStream(stream, new RestwireError('RW_ERR_CLOSED', `${this.options.peer} reset the event: ${reset.reason}`, {details: {status}}))
    } else if (frame.type === FrameType.REPLY) {
      this.onReply(stream, frame)
    } else if (frame.type === FrameType.DATA) {
      if (!stream.body) return this.fail(new RestwireError('RW_ERR_PROTOCOL', `DATA on stream ${stream.id} before its REPLY`))
      if (!stream.body.deliver(frame.payload)) return this.fail(new RestwireError('RW_ERR_PROTOCOL', `DATA on stream ${stream.id} beyond the flow-control window`))
      this.throttle.received(frame.payload.length)
      if (frame.flags & FLAG_END) this.onBodyEnd(stream)
    }
  }

  private onReply(stream: Stream, frame: Frame): void {
    if (!stream.outgoing || !stream.reply || stream.body) {
      return this.fail(new RestwireError('RW_ERR_PROTOCOL', `an unexpected REPLY on stream ${stream.id}`))
    }

    const end = metaEnd(frame)
    const inline = (frame.flags & FLAG_INLINE) !== 0
    const meta = end < 0 ? new RestwireError('RW_ERR_PROTOCOL', 'INLINE metadata length exceeds the frame') : parseReplyMeta(frame.payload, inline ? 2 : 0, end)
    if (meta instanceof RestwireError) return this.fail(meta)
    const {reply} = stream
    this.deadlines.delete(stream)
    stream.reply = undefined
    if (inline) {
      // The whole reply in one frame (INLINE implies END): the event is over, and the Reply holds the
      // bytes without an IncomingBody.
      stream.window.stop()
      this.forget(stream)
      stream.cleanup?.()
      reply.resolve(new Reply(meta, frame.payload.subarray(end)))
      return
    }

    const body = this.bodyFor(stream)
    stream.body = body
    reply.resolve(new Reply(meta, body))
    if (frame.flags & FLAG_END) this.onBodyEnd(stream)
  }

  private onBodyEnd(stream: Stream): void {
    stream.body!.finish()
    // An outgoing event is complete once its reply has ended; stop sending the rest of our body, if any.
    if (stream.outgoing) {
      stream.window.stop()
      this.forget(stream)
      stream.cleanup?.()
    }
  }

  /** The stream is over for this session; what its body still holds no longer counts against the connection. */
  private forget(stream: Stream): void {
    if (this.streams.get(stream.id) !== stream) return
    this.streams.delete(stream.id)
    if (stream.body) this.throttle.released(stream.body.unconsumed)
  }

  private bodyFor(stream: Stream): IncomingBody {
    return new IncomingBody(this.windowBytes, this.bodyOwner, stream.id)
  }

  /** For every body of this session; a body whose stream has ended (or was replaced) is ignored. */
  private readonly bodyOwner: BodyOwner = {
    abandoned: (body) => {
      const stream = this.streams.get(body.streamId)
      // A caller that drops a reply body: the stream must not live on.
      if (stream?.body === body && stream.outgoing) this.resetStream(stream, 499, 'the reply body was abandoned')
    },
    grant: (body, bytes) => {
      if (this.streams.get(body.streamId)?.body !== body) return
      this.throttle.released(bytes)
      const increment = Buffer.allocUnsafe(4)
      increment.writeUInt32BE(bytes, 0)
      this.send(FrameType.WINDOW, 0, body.streamId, increment)
    },
  }

  private finishIncoming(stream: Stream): void {
    this.forget(stream)
    stream.window.stop()
    // The event body is no longer wanted: free what is buffered (the sender stops when it sees the reply end).
    if (stream.body && !stream.body.complete) stream.body.discard()
  }

  /** Sends a body as DATA frames within the stream's credit, ending with END. */
  private async pump(stream: Stream, source: BodySource): Promise<void> {
    const chunks: AsyncIterable<Buffer | Uint8Array | string> | Array<Buffer | Uint8Array | string> =
      typeof source === 'string' || source instanceof Uint8Array ? [source] : source
    try {
      for await (const raw of chunks) {
        const chunk = toBuffer(raw)
        let offset = 0
        while (offset < chunk.length) {
          const size = await stream.window.take(Math.min(chunk.length - offset, MAX_FRAME_PAYLOAD_BYTES))
          if (size === 0) return
          this.send(FrameType.DATA, 0, stream.id, chunk.subarray(offset, offset + size))
          // While the event body is still moving, the peer is not late: the reply timeout counts from the last progress.
          if (stream.reply) this.deadlines.refresh(stream)
          offset += size
        }

        if (this.out.bytes >= FLUSH_BYTES || this.options.socket.writableNeedDrain) await this.out.drained()
        if (stream.window.stopped) return
      }
    } catch (error) {
      if (stream.window.stopped) return
      this.resetStream(stream, 502, `the body source failed: ${(error as Error).message}`)
      return
    }

    if (stream.window.stopped) return
    this.send(FrameType.DATA, FLAG_END, stream.id)
    if (!stream.outgoing) this.finishIncoming(stream)
  }

  /** Ends one event on our side and tells the peer (RESET). */
  private resetStream(stream: Stream, code: number, reason: string): void {
    if (this.streams.get(stream.id) !== stream) return
    this.forget(stream)
    this.sendJson(FrameType.RESET, 0, stream.id, {code, reason} satisfies ResetMeta)
    const error = code === 504
      ? new RestwireError('RW_ERR_TIMEOUT', `${this.options.peer}: ${reason}`, {details: {status: 504}})
      : new RestwireError('RW_ERR_CLOSED', `${this.options.peer}: ${reason}`, {details: {status: code}})
    this.endStream(stream, error)
  }

  private endStream(stream: Stream, error: RestwireError): void {
    stream.window.stop()
    stream.aborted = error
    stream.abort?.abort(error)
    if (stream.reply) {
      this.deadlines.delete(stream)
      stream.reply.reject(error)
      stream.reply = undefined
    }

    stream.body?.fail(error)
    stream.cleanup?.()
  }

  private sendJson(type: FrameTypeCode, flags: number, streamId: number, value: unknown): void {
    if (this.closedReason === undefined) this.out.json(type, flags, streamId, value)
  }

  private send(type: FrameTypeCode, flags: number, streamId: number, payload?: Buffer): void {
    if (this.closedReason === undefined) this.out.frame(type, flags, streamId, payload)
  }
}
