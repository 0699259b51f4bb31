// Outgoing frames of one connection: the frames queued in one event-loop turn go out together (or
// every ~2 KiB, so the peer can start early), in writes of at most about 64 KiB (both peers are
// restwire, so coalescing is always safe). Small frames are built one after another in a slab (a
// shared buffer cut into the segments written), so a run of small events is written as the slab's
// slice: no Buffer per frame and no concatenation; large payloads are queued by reference and copied
// once, into the write. The queue writes to a
// FrameSink (a socket in use, a fake in tests) and is told by its owner when the sink drains.
import {stringifyJson} from '../json.js'
import {FRAME_HEADER_BYTES, FrameType, type FrameTypeCode, frameTypeName, writeU16, writeU32} from './frames.js'
import {type EventMeta, type ReplyMeta, writeEventMeta, writeReplyMeta, writeString} from './messages.js'

/** Payloads up to this size are copied next to their header (one small allocation instead of two). */
const COPY_PAYLOAD_BYTES = 1024
/** Small frames are built in slabs of this size; a frame larger than a quarter of it gets its own buffer. */
const SLAB_BYTES = 8 * 1024
/** A turn that queued less than this gives its slab up (an idle connection's heartbeat keeps no slab). */
const KEEP_SLAB_BYTES = 1024
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

const EMPTY = Buffer.alloc(0)

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
  /** The slab small frames are built in: [slabStart, slabEnd) holds frames not yet in `queue`. */
  private slab: Buffer | undefined
  private slabStart = 0
  private slabEnd = 0
  /** Bytes queued since the last end-of-turn flush (early writes included). */
  private turnBytes = 0
  /** The buffer the last reserve() made room in. */
  private target: Buffer = EMPTY
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
      const at = this.reserve(FRAME_HEADER_BYTES)
      header(this.target, at, type, flags, streamId, length)
      this.seal()
      this.queue.push(payload!)
    } else {
      const at = this.reserve(FRAME_HEADER_BYTES + length)
      header(this.target, at, type, flags, streamId, length)
      if (length > 0) payload!.copy(this.target, at + FRAME_HEADER_BYTES)
    }

    this.queued(FRAME_HEADER_BYTES + length)
  }

  json(type: FrameTypeCode, flags: number, streamId: number, value: unknown): void {
    if (this.closed) return
    const text = stringifyJson(value, `a ${frameTypeName(type)} frame`)
    const length = Buffer.byteLength(text)
    const at = this.reserve(FRAME_HEADER_BYTES + length)
    header(this.target, at, type, flags, streamId, length)
    this.target.write(text, at + FRAME_HEADER_BYTES, 'utf8')
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
    const start = this.reserve(FRAME_HEADER_BYTES + length)
    const frame = this.target
    header(frame, start, type, flags, streamId, length)
    if (inlineBody !== undefined) writeU16(frame, start + FRAME_HEADER_BYTES, metaBytes)
    const at = start + FRAME_HEADER_BYTES + prefix
    if (type === FrameType.EVENT) writeEventMeta(frame, at, meta as EventMeta)
    else writeReplyMeta(frame, at, meta as ReplyMeta)
    if (typeof inlineBody === 'string') writeString(frame, at + metaBytes, inlineBody)
    else inlineBody?.copy(frame, at + metaBytes)
    this.queued(FRAME_HEADER_BYTES + length)
  }

  flush(): void {
    this.scheduled = false
    this.writeOut()
    if (this.turnBytes < KEEP_SLAB_BYTES) this.dropSlab()
    this.turnBytes = 0
  }

  /**
   * Room for `bytes` of frame at the returned offset of `this.target` (the slab, or for a large frame a
   * buffer of its own, queued at once in order). Frames are written into it before anything else is queued.
   */
  private reserve(bytes: number): number {
    if (bytes > SLAB_BYTES / 4) {
      this.seal()
      this.target = Buffer.allocUnsafe(bytes)
      this.queue.push(this.target)
      return 0
    }

    if (this.slab === undefined || this.slab.length - this.slabEnd < bytes) {
      this.seal()
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES)
      this.slabStart = 0
      this.slabEnd = 0
    }

    const at = this.slabEnd
    this.slabEnd += bytes
    this.target = this.slab
    return at
  }

  /** The slab's frames not yet queued go into the queue as one slice (before anything queued after them). */
  private seal(): void {
    if (this.slab === undefined || this.slabEnd === this.slabStart) return
    this.queue.push(this.slab.subarray(this.slabStart, this.slabEnd))
    this.slabStart = this.slabEnd
  }

  private dropSlab(): void {
    this.seal()
    this.slab = undefined
    this.slabStart = 0
    this.slabEnd = 0
  }

  private writeOut(): void {
    this.seal()
    // `target` is only for the frame being built: written, it must not hold a large frame's buffer, or
    // a slab given up at the end of the turn (8 KiB per idle connection), until the next frame.
    this.target = EMPTY
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
    this.slab = undefined
    this.target = EMPTY
    this.slabStart = 0
    this.slabEnd = 0
    this.wakeDrain()
  }

  private queued(bytes: number): void {
    this.queuedBytes += bytes
    this.turnBytes += bytes
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

function header(buffer: Buffer, at: number, type: FrameTypeCode, flags: number, streamId: number, length: number): void {
  buffer[at] = type
  buffer[at + 1] = flags
  buffer[at + 2] = 0
  buffer[at + 3] = 0
  writeU32(buffer, at + 4, streamId)
  writeU32(buffer, at + 8, length)
}
