// Outgoing frames of one connection: the frames queued in one event-loop turn go out together (or
// every ~2 KiB, so the peer can start early), in writes of at most about 64 KiB (both peers are
// restwire, so coalescing is always safe). Small frames are built in one buffer;
// large payloads are queued by reference and copied once, into the write. The queue writes to a
// FrameSink (a socket in use, a fake in tests) and is told by its owner when the sink drains.
import {stringifyJson} from '../json.js'
import {FRAME_HEADER_BYTES, FrameType, type FrameTypeCode, frameTypeName} from './frames.js'
import {type EventMeta, type ReplyMeta, writeEventMeta, writeReplyMeta} from './messages.js'

/** Payloads up to this size are copied next to their header (one small allocation instead of two). */
const COPY_PAYLOAD_BYTES = 1024
/** Frames are written in groups of about this many bytes (one DATA frame, or many small frames). */
const SEGMENT_BYTES = 64 * 1024
/**
 * Once this much is queued in a turn, it is written at once rather than at the end of the turn: the
 * peer starts on the first events while this side is still producing the rest, so both processes work
 * at the same time. Holding a whole turn back (64 small events at concurrency 64) made the two sides
 * take turns, each idle about half the time; writing every frame at once costs a syscall and a TLS
 * record per event. 2 KiB (about 30 small events) measured best between 512 B and 16 KiB.
 */
const EARLY_WRITE_BYTES = 2 * 1024

/** Where frames are written: the part of a socket the queue uses. */
export interface FrameSink {
  /** false: the sink is full; writable() is called once it drains. */
  write(chunk: Buffer): boolean
  readonly writableNeedDrain: boolean
  readonly destroyed: boolean
}

export class FrameQueue {
  private queue: Buffer[] = []
  private queuedBytes = 0
  private scheduled = false
  private closed = false
  private drainWaiters: Array<() => void> = []

  constructor(private readonly socket: FrameSink) {}

  get bytes(): number {
    return this.queuedBytes
  }

  /** The sink is above its own high-water mark (a body pump then waits for drained()). */
  get sinkFull(): boolean {
    return this.socket.writableNeedDrain
  }

  /** The sink drained (the socket's 'drain'). */
  writable(): void {
    this.wakeDrain()
  }

  frame(type: FrameTypeCode, flags: number, streamId: number, payload?: Buffer): void {
    if (this.closed) return
    const length = payload?.length ?? 0
    if (length > COPY_PAYLOAD_BYTES) {
      this.queue.push(header(Buffer.allocUnsafe(FRAME_HEADER_BYTES), type, flags, streamId, length), payload!)
    } else {
      const frame = header(Buffer.allocUnsafe(FRAME_HEADER_BYTES + length), type, flags, streamId, length)
      if (length > 0) payload!.copy(frame, FRAME_HEADER_BYTES)
      this.queue.push(frame)
    }

    this.queued(FRAME_HEADER_BYTES + length)
  }

  json(type: FrameTypeCode, flags: number, streamId: number, value: unknown): void {
    if (this.closed) return
    const text = stringifyJson(value, `a ${frameTypeName(type)} frame`)
    const length = Buffer.byteLength(text)
    const frame = header(Buffer.allocUnsafe(FRAME_HEADER_BYTES + length), type, flags, streamId, length)
    frame.write(text, FRAME_HEADER_BYTES, 'utf8')
    this.queue.push(frame)
    this.queued(FRAME_HEADER_BYTES + length)
  }

  /**
   * EVENT or REPLY, its binary metadata (metaBytes long, as measured by eventMetaLength/replyMetaLength)
   * written straight into the frame. With an inline body (a small whole body, a string written as
   * UTF-8 without a Buffer first; flags INLINE|END):
   * [u16 metadata length][metadata][body]; without, the payload is the metadata alone.
   */
  meta(
    type: typeof FrameType.EVENT | typeof FrameType.REPLY,
    flags: number,
    streamId: number,
    meta: EventMeta | ReplyMeta,
    metaBytes: number,
    inlineBody?: Buffer | string,
    inlineBytes = 0,
  ): void {
    if (this.closed) return
    const prefix = inlineBody === undefined ? 0 : 2
    const length = prefix + metaBytes + inlineBytes
    const frame = header(Buffer.allocUnsafe(FRAME_HEADER_BYTES + length), type, flags, streamId, length)
    if (inlineBody !== undefined) frame.writeUInt16BE(metaBytes, FRAME_HEADER_BYTES)
    const at = FRAME_HEADER_BYTES + prefix
    if (type === FrameType.EVENT) writeEventMeta(frame, at, meta as EventMeta)
    else writeReplyMeta(frame, at, meta as ReplyMeta)
    if (typeof inlineBody === 'string') frame.write(inlineBody, at + metaBytes, 'utf8')
    else inlineBody?.copy(frame, at + metaBytes)
    this.queue.push(frame)
    this.queued(FRAME_HEADER_BYTES + length)
  }

  flush(): void {
    this.scheduled = false
    this.writeOut()
  }

  private writeOut(): void {
    if (this.queue.length === 0 || this.closed || this.socket.destroyed) return
    // Writes of about one frame's size: one big concatenation per turn would allocate (and page in)
    // megabytes each time a body streams, which costs more than the encryption.
    let ok = true
    let segment: Buffer[] = []
    let segmentBytes = 0
    for (const buffer of this.queue) {
      segment.push(buffer)
      segmentBytes += buffer.length
      if (segmentBytes >= SEGMENT_BYTES) {
        ok = this.socket.write(segment.length === 1 ? segment[0]! : Buffer.concat(segment, segmentBytes))
        segment = []
        segmentBytes = 0
      }
    }

    if (segment.length > 0) ok = this.socket.write(segment.length === 1 ? segment[0]! : Buffer.concat(segment, segmentBytes))
    this.queue = []
    this.queuedBytes = 0
    if (ok) this.wakeDrain()
  }

  /** Resolves once the queue is written and the socket has room (or the queue is closed). */
  drained(): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  /** Drops what is queued; later frames are ignored; waiters are released. */
  close(): void {
    this.closed = true
    this.queue = []
    this.queuedBytes = 0
    this.wakeDrain()
  }

  private queued(bytes: number): void {
    this.queuedBytes += bytes
    if (this.queuedBytes >= EARLY_WRITE_BYTES) {
      this.writeOut()
      return
    }

    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  private wakeDrain(): void {
    if (this.socket.writableNeedDrain && !this.closed) return
    for (const waiter of this.drainWaiters.splice(0)) waiter()
  }
}

function header(buffer: Buffer, type: FrameTypeCode, flags: number, streamId: number, length: number): Buffer {
  buffer[0] = type
  buffer[1] = flags
  buffer[2] = 0
  buffer[3] = 0
  buffer.writeUInt32BE(streamId, 4)
  buffer.writeUInt32BE(length, 8)
  return buffer
}
