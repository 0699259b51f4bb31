// The stream part of a pipe connection: events both ways multiplexed on stream ids, each with its
// flow-controlled bodies (SendWindow credit out, IncomingBody in), its reply, RESETs and reply
// deadlines. It takes the stream frames (EVENT, DATA, REPLY, RESET, WINDOW) from the connection part
// and sends through its FrameQueue; it touches no socket and its only timer runs on the given clock.
import {PeerGoneError, RestwireError, TimeoutError} from '../errors.js'
import {type BodySource, SendWindow, toBuffer} from './body-stream.js'
import type {Clock} from '../link/clock.js'
import type {EventHandler, PipeEvent, PipeReply, ReplySpec, SendOptions} from './event-types.js'
import type {FrameQueue} from './frame-queue.js'
import {FLAG_END, FLAG_INLINE, type Frame, FrameType, type FrameTypeCode, MAX_FRAME_PAYLOAD_BYTES} from './frames.js'
import {type BodyOwner, IncomingBody} from './incoming-body.js'
import {type EventMeta, errorText, type ReplyMeta, type ResetMeta, eventMetaLength, parseEventMeta, parseReplyMeta, parseResetMeta, replyMetaLength, utf8Length} from './messages.js'
import type {ReadThrottle} from './read-throttle.js'
import {ReplyDeadlines} from './reply-deadlines.js'
import {type EventBodies, IncomingEvent, Reply, Stream, StreamTable, isEmptyBody, metaEnd} from './stream.js'

export const DEFAULT_MAX_IN_FLIGHT = 1024

/** The stream whose reply promise is being made: one executor for all of them (no closure per event). */
let capturing: Stream | undefined
function captureResolvers(resolve: (reply: PipeReply) => void, reject: (error: RestwireError) => void): void {
  capturing!.resolve = resolve
  capturing!.reject = reject
  capturing = undefined
}

function handlerFailed(error: unknown): ReplySpec {
  return {body: `handler failed: ${errorText(error)}`, code: 251, contentType: 'text/plain; charset=utf-8'}
}
/** EVENT or REPLY metadata must fit one frame, with room for the INLINE length prefix. */
const MAX_META_BYTES = MAX_FRAME_PAYLOAD_BYTES - 2
type MetaFrameType = typeof FrameType.EVENT | typeof FrameType.REPLY
/** Bodies up to this size travel inside their EVENT or REPLY frame (INLINE). */
const INLINE_BODY_BYTES = 16 * 1024
/** A body pump pauses once this much is queued, until the queue is written and the socket drained. */
const FLUSH_BYTES = 512 * 1024
/** A whole event body smaller than this is copied out of its socket chunk (as IncomingBody.deliver does). */
const COPY_BODY_BYTES = 4096
const EMPTY_BODY = Buffer.alloc(0)

/** Up to this many bytes are copied in a JS loop: Buffer.copy from an offset makes a view of the source first. */
const COPY_IN_JS_BYTES = 256

/** payload[start, start + size) as a Buffer of its own. */
function copyOut(payload: Buffer, start: number, size: number): Buffer {
  const copy = Buffer.allocUnsafe(size)
  if (size > COPY_IN_JS_BYTES) payload.copy(copy, 0, start, start + size)
  else for (let i = 0; i < size; i++) copy[i] = payload[start + i]!
  return copy
}

/** The connection part, as the streams see it. */
export interface StreamsHost {
  /** Why the connection closed; undefined while it is open (nothing is sent once it is set). */
  readonly closedReason: string | undefined
  /** A frame broke the protocol: the whole connection ends (GOAWAY). */
  fail(error: RestwireError): void
}

export interface PipeStreamsOptions {
  role: 'hub' | 'node'
  peer: string
  handler: EventHandler
  windowBytes: number
  maxInFlight: number
  host: StreamsHost
  out: FrameQueue
  throttle: ReadThrottle
  clock: Clock
}

export class PipeStreams implements EventBodies {
  private readonly streams: StreamTable
  private nextStreamId: number
  private readonly deadlines: ReplyDeadlines<Stream>
  private readonly host: StreamsHost
  private readonly out: FrameQueue
  private readonly windowBytes: number

  constructor(private readonly options: PipeStreamsOptions) {
    this.host = options.host
    this.out = options.out
    this.windowBytes = options.windowBytes
    this.nextStreamId = options.role === 'hub' ? 1 : 2
    this.streams = new StreamTable()
    this.deadlines = new ReplyDeadlines<Stream>((stream) => this.resetStream(stream, 504, `no reply within ${stream.timeoutMs} ms`), options.clock)
  }

  get size(): number {
    return this.streams.size
  }

  /** Sends one event; resolves when the reply starts (its body streams on). Fails with 503 if the connection drops. */
  request(event: PipeEvent, options: SendOptions): Promise<PipeReply> {
    if (this.host.closedReason !== undefined) return Promise.reject(this.closedError())
    const metaBytes = eventMetaLength(event)
    if (metaBytes < 0 || metaBytes > MAX_META_BYTES) {
      return Promise.reject(new RestwireError('RW_ERR_USAGE', `the event's verb, noun, arguments or content type are too long for one frame`, {status: 400}))
    }

    const id = this.nextStreamId
    this.nextStreamId += 2
    const stream = new Stream(id, true)
    this.streams.add(stream)
    stream.open = true
    const {body} = event
    const empty = isEmptyBody(body)
    capturing = stream
    const promise = new Promise<PipeReply>(captureResolvers)
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

  closedError(): RestwireError {
    return new PeerGoneError(`the connection to ${this.options.peer} is closed: ${this.host.closedReason}`, {status: 503})
  }

  /** The connection is gone: every stream fails with `failure`, and no deadline fires any more. */
  closeAll(failure: RestwireError): void {
    this.deadlines.stop()
    for (const stream of this.streams.values()) {
      stream.open = false
      this.endStream(stream, failure)
    }

    this.streams.clear()
  }

  /** An EVENT frame: the peer opens a stream (bad metadata or too many open: RESET, the connection stays). */
  onEvent(frame: Frame): void {
    const peerParity = this.options.role === 'hub' ? 0 : 1
    if (frame.streamId % 2 !== peerParity || this.streams.has(frame.streamId)) {
      return this.host.fail(new RestwireError('RW_ERR_PROTOCOL', `an EVENT on stream ${frame.streamId}, which the peer may not open`))
    }

    const end = metaEnd(frame)
    const inline = (frame.flags & FLAG_INLINE) !== 0
    const meta = end < 0 ? new RestwireError('RW_ERR_PROTOCOL', 'INLINE metadata length exceeds the frame') : parseEventMeta(frame.payload, inline ? 2 : 0, end)
    if (meta instanceof RestwireError) return this.sendJson(FrameType.RESET, 0, frame.streamId, {code: 400, reason: meta.message} satisfies ResetMeta)
    if (this.streams.size >= this.options.maxInFlight) {
      return this.sendJson(FrameType.RESET, 0, frame.streamId, {code: 503, reason: 'too many events in flight'} satisfies ResetMeta)
    }

    const stream = new Stream(frame.streamId, false)
    if (frame.flags & FLAG_END) {
      // The whole body came with the event (INLINE, or none): its bytes, no IncomingBody (bodyOf makes
      // one if a handler wants a stream). A small body is copied out of its socket chunk, as
      // IncomingBody.deliver does: a handler holding it must not keep the whole chunk alive.
      const size = inline ? frame.payload.length - end : 0
      if (size === 0) stream.whole = EMPTY_BODY
      else {
        stream.whole = size < COPY_BODY_BYTES ? copyOut(frame.payload, end, size) : frame.payload.subarray(end)
        stream.wholeBytes = size
        this.options.throttle.received(size)
      }
    } else {
      const body = this.bodyFor(stream)
      stream.body = body
      if (inline && end < frame.payload.length) {
        body.deliver(frame.payload.subarray(end))
        this.options.throttle.received(frame.payload.length - end)
      }
    }

    this.streams.add(stream)
    stream.open = true
    this.answer(stream, meta)
  }

  /** DATA, REPLY, RESET or WINDOW. */
  onStreamFrame(frame: Frame): void {
    const stream = this.streams.get(frame.streamId)
    // Frames for a stream that already ended (reset, timed out) are expected in a race: drop them.
    if (!stream) return
    if (frame.type === FrameType.WINDOW) {
      if (frame.payload.length !== 4) return this.host.fail(new RestwireError('RW_ERR_PROTOCOL', 'a WINDOW frame without a 4-byte increment'))
      this.windowOf(stream).add(frame.payload.readUInt32BE(0))
    } else if (frame.type === FrameType.RESET) {
      const reset = parseResetMeta(frame.payload)
      const status = reset.code >= 400 && reset.code <= 599 ? reset.code : 502
      this.forget(stream)
      this.endStream(stream, new PeerGoneError(`${this.options.peer} reset the event: ${reset.reason}`, {status}))
    } else if (frame.type === FrameType.REPLY) {
      this.onReply(stream, frame)
    } else if (frame.type === FrameType.DATA) {
      // An incoming event whose body came whole gets a DATA only from a peer breaking the protocol;
      // it is taken as before (into the body, within its window).
      if (!stream.outgoing && stream.whole !== undefined) this.bodyOf(stream)
      if (!stream.body) return this.host.fail(new RestwireError('RW_ERR_PROTOCOL', `DATA on stream ${stream.id} before its REPLY`))
      if (!stream.body.deliver(frame.payload)) return this.host.fail(new RestwireError('RW_ERR_PROTOCOL', `DATA on stream ${stream.id} beyond the flow-control window`))
      this.options.throttle.received(frame.payload.length)
      if (frame.flags & FLAG_END) this.onBodyEnd(stream)
    }
  }

  /**
   * Runs the handler and sends its reply a microtask later (a handler that answers at once included), as
   * one promise reaction per event: no async function (its promise, its await) and no catch() of it.
   */
  private answer(stream: Stream, meta: EventMeta): void {
    let result: Promise<ReplySpec> | ReplySpec
    try {
      result = this.options.handler(new IncomingEvent(meta, stream, this.options.peer, this))
    } catch (error) {
      result = handlerFailed(error)
    }

    Promise.resolve(result).then(
      (reply) => this.reply(stream, reply),
      (error: unknown) => this.reply(stream, handlerFailed(error)),
    )
  }

  private reply(stream: Stream, reply: ReplySpec): void {
    try {
      this.sendReply(stream, reply)
    } catch (error) {
      this.resetStream(stream, 500, `the reply could not be sent: ${errorText(error)}`)
    }
  }

  private sendReply(stream: Stream, spec: ReplySpec): void {
    let reply = spec
    let metaBytes = replyMetaLength(reply)
    if (metaBytes < 0 || metaBytes > MAX_META_BYTES) {
      ;(reply.body as {destroy?: () => void} | undefined)?.destroy?.()
      reply = {body: `handler failed: its reply has code ${reply.code} (not a 32-bit integer) or a content type too long for one frame`, code: 251, contentType: 'text/plain; charset=utf-8'}
      metaBytes = replyMetaLength(reply)
    }

    const {body} = reply
    if (!stream.open) {
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
    if (this.host.closedReason !== undefined) return false
    // A string is measured and written straight into the frame (no Buffer made for it first).
    let size: number
    if (typeof body === 'string') size = body.length > INLINE_BODY_BYTES ? INLINE_BODY_BYTES + 1 : utf8Length(body)
    else if (body instanceof Uint8Array) size = body.byteLength
    else return false
    if (size > INLINE_BODY_BYTES) return false
    if (2 + metaBytes + size > MAX_FRAME_PAYLOAD_BYTES || !this.takeNow(stream, size)) return false
    this.out.meta(type, FLAG_INLINE | FLAG_END, stream.id, meta, metaBytes, typeof body === 'string' ? body : toBuffer(body), size)
    return true
  }

  /** EVENT or REPLY with its metadata only (the body, if any, follows as DATA). */
  private sendMeta(type: MetaFrameType, flags: number, streamId: number, meta: EventMeta | ReplyMeta, metaBytes: number): void {
    if (this.host.closedReason === undefined) this.out.meta(type, flags, streamId, meta, metaBytes)
  }

  /** A body that fits one frame and the window goes out at once as DATA+END; others are pumped. */
  private sendBody(stream: Stream, body: BodySource): void {
    if (typeof body === 'string' || body instanceof Uint8Array) {
      const bytes = toBuffer(body)
      if (bytes.length <= MAX_FRAME_PAYLOAD_BYTES && this.takeNow(stream, bytes.length)) {
        this.send(FrameType.DATA, FLAG_END, stream.id, bytes)
        if (!stream.outgoing) this.finishIncoming(stream)
        return
      }
    }

    void this.pump(stream, body)
  }

  private onReply(stream: Stream, frame: Frame): void {
    const {resolve} = stream
    if (!stream.outgoing || !resolve || stream.body) {
      return this.host.fail(new RestwireError('RW_ERR_PROTOCOL', `an unexpected REPLY on stream ${stream.id}`))
    }

    const end = metaEnd(frame)
    const inline = (frame.flags & FLAG_INLINE) !== 0
    const meta = end < 0 ? new RestwireError('RW_ERR_PROTOCOL', 'INLINE metadata length exceeds the frame') : parseReplyMeta(frame.payload, inline ? 2 : 0, end)
    if (meta instanceof RestwireError) return this.host.fail(meta)
    this.deadlines.delete(stream)
    stream.resolve = undefined
    stream.reject = undefined
    if (inline) {
      // The whole reply in one frame (INLINE implies END): the event is over, and the Reply holds the
      // bytes without an IncomingBody.
      stream.stop()
      this.forget(stream)
      stream.cleanup?.()
      resolve(new Reply(meta, frame.payload.subarray(end)))
      return
    }

    const body = this.bodyFor(stream)
    stream.body = body
    resolve(new Reply(meta, body))
    if (frame.flags & FLAG_END) this.onBodyEnd(stream)
  }

  private onBodyEnd(stream: Stream): void {
    stream.body!.finish()
    // An outgoing event is complete once its reply has ended; stop sending the rest of our body, if any.
    if (stream.outgoing) {
      stream.stop()
      this.forget(stream)
      stream.cleanup?.()
    }
  }

  /** The stream is over for this connection; what its body still holds no longer counts against it. */
  private forget(stream: Stream): void {
    if (!stream.open) return
    stream.open = false
    this.streams.delete(stream)
    if (stream.body) this.options.throttle.released(stream.body.unconsumed)
    else if (stream.wholeBytes > 0) this.options.throttle.released(stream.wholeBytes)
  }

  /** An incoming event's body as an IncomingBody (made from its whole bytes on first use). */
  bodyOf(stream: Stream): IncomingBody {
    if (stream.body) return stream.body
    const body = this.bodyFor(stream)
    const whole = stream.whole ?? EMPTY_BODY
    stream.whole = undefined
    if (whole.length > 0) body.deliver(whole)
    body.finish()
    stream.body = body
    return body
  }

  private bodyFor(stream: Stream): IncomingBody {
    return new IncomingBody(this.windowBytes, this.bodyOwner, stream.id)
  }

  /** For every body of this connection; a body whose stream has ended (or was replaced) is ignored. */
  private readonly bodyOwner: BodyOwner = {
    abandoned: (body) => {
      const stream = this.streams.get(body.streamId)
      // A caller that drops a reply body: the stream must not live on.
      if (stream?.body === body && stream.outgoing) this.resetStream(stream, 499, 'the reply body was abandoned')
    },
    grant: (body, bytes) => {
      if (this.streams.get(body.streamId)?.body !== body) return
      this.options.throttle.released(bytes)
      const increment = Buffer.allocUnsafe(4)
      increment.writeUInt32BE(bytes, 0)
      this.send(FrameType.WINDOW, 0, body.streamId, increment)
    },
  }

  /** The stream's send window, made on first use (a stopped stream's starts stopped). */
  private windowOf(stream: Stream): SendWindow {
    if (stream.window) return stream.window
    const window = new SendWindow(this.windowBytes)
    if (stream.stopped) window.stop()
    stream.window = window
    return window
  }

  /** Takes credit for a body sent whole; a stream that never sent in DATA frames needs no window for it. */
  private takeNow(stream: Stream, bytes: number): boolean {
    if (stream.window) return stream.window.takeNow(bytes)
    // A whole body is the stream's only send: the fresh window's full credit is all that counts.
    return !stream.stopped && bytes <= this.windowBytes
  }

  private finishIncoming(stream: Stream): void {
    this.forget(stream)
    stream.stop()
    // The event body is no longer wanted: free what is buffered (the sender stops when it sees the reply end).
    if (stream.body && !stream.body.complete) stream.body.discard()
  }

  /** Sends a body as DATA frames within the stream's credit, ending with END. */
  private async pump(stream: Stream, source: BodySource): Promise<void> {
    const window = this.windowOf(stream)
    const chunks: AsyncIterable<Buffer | Uint8Array | string> | Array<Buffer | Uint8Array | string> =
      typeof source === 'string' || source instanceof Uint8Array ? [source] : source
    try {
      for await (const raw of chunks) {
        const chunk = toBuffer(raw)
        let offset = 0
        while (offset < chunk.length) {
          const size = await window.take(Math.min(chunk.length - offset, MAX_FRAME_PAYLOAD_BYTES))
          if (size === 0) return
          this.send(FrameType.DATA, 0, stream.id, chunk.subarray(offset, offset + size))
          // While the event body is still moving, the peer is not late: the reply timeout counts from the last progress.
          if (stream.resolve) this.deadlines.refresh(stream)
          offset += size
        }

        if (this.out.bytes >= FLUSH_BYTES || this.out.sinkFull) await this.out.drained()
        if (stream.stopped) return
      }
    } catch (error) {
      if (stream.stopped) return
      this.resetStream(stream, 502, `the body source failed: ${(error as Error).message}`)
      return
    }

    if (stream.stopped) return
    this.send(FrameType.DATA, FLAG_END, stream.id)
    if (!stream.outgoing) this.finishIncoming(stream)
  }

  /** Ends one event on our side and tells the peer (RESET). */
  private resetStream(stream: Stream, code: number, reason: string): void {
    if (!stream.open) return
    this.forget(stream)
    this.sendJson(FrameType.RESET, 0, stream.id, {code, reason} satisfies ResetMeta)
    const error = code === 504
      ? new TimeoutError(`${this.options.peer}: ${reason}`, {status: 504})
      : new PeerGoneError(`${this.options.peer}: ${reason}`, {status: code})
    this.endStream(stream, error)
  }

  private endStream(stream: Stream, error: RestwireError): void {
    stream.stop()
    stream.aborted = error
    stream.abort?.abort(error)
    const {reject} = stream
    if (reject) {
      this.deadlines.delete(stream)
      stream.resolve = undefined
      stream.reject = undefined
      reject(error)
    }

    stream.body?.fail(error)
    stream.cleanup?.()
  }

  private sendJson(type: FrameTypeCode, flags: number, streamId: number, value: unknown): void {
    if (this.host.closedReason === undefined) this.out.json(type, flags, streamId, value)
  }

  private send(type: FrameTypeCode, flags: number, streamId: number, payload?: Buffer): void {
    if (this.host.closedReason === undefined) this.out.frame(type, flags, streamId, payload)
  }
}
