// The pipe's binary frame codec: a fixed 12-byte header and a bounded payload. Pure: encode to
// Buffers, decode with push(chunk) and callbacks. docs/pipe.md has the same layout with examples.
//
//   0        1        2                 4                                 8                                 12
//   +--------+--------+-----------------+---------------------------------+---------------------------------+---------
//   | type   | flags  | reserved (0)    | stream id (u32, big endian)     | payload length (u32, big endian)| payload
//   +--------+--------+-----------------+---------------------------------+---------------------------------+---------
//
// Stream 0 carries connection frames (HELLO, PING, PONG, GOAWAY). Hub-opened streams are odd,
// node-opened streams even. EVENT and REPLY carry binary metadata (messages.ts); HELLO, RESET and
// GOAWAY payloads are UTF-8 JSON; DATA is raw body bytes; WINDOW is a u32 credit increment; PING/PONG
// carry 8 opaque bytes. Flags: 0x01 END (the sender's body is complete), 0x02 INLINE (with END, on
// EVENT/REPLY: [u16 metadata length][metadata][body]).
import {FrameCorruptError, RestwireError} from '../errors.js'
import {stringifyJson} from '../json.js'

export const FRAME_HEADER_BYTES = 12
/** Largest payload a frame may carry; a body is split into DATA frames of at most this size. */
export const MAX_FRAME_PAYLOAD_BYTES = 64 * 1024

export const FrameType = {
  HELLO: 1,
  EVENT: 2,
  DATA: 3,
  REPLY: 4,
  RESET: 5,
  WINDOW: 6,
  PING: 7,
  PONG: 8,
  GOAWAY: 9,
} as const

export type FrameTypeName = keyof typeof FrameType
export type FrameTypeCode = (typeof FrameType)[FrameTypeName]

/** Set on EVENT, REPLY or DATA: the sender's body on this stream is complete. */
export const FLAG_END = 0x01
/** Set (with END) on EVENT or REPLY that carries its whole body: [u16 metadata length][metadata][body]. */
export const FLAG_INLINE = 0x02
const KNOWN_FLAGS = FLAG_END | FLAG_INLINE

const TYPE_NAMES: Record<number, FrameTypeName> = Object.fromEntries(Object.entries(FrameType).map(([name, code]) => [code, name as FrameTypeName]))
const EMPTY = Buffer.alloc(0)
/** The frame types of stream 0, as a bit mask by type code (a bit test per frame instead of a Set lookup). */
const CONNECTION_TYPES = (1 << FrameType.HELLO) | (1 << FrameType.PING) | (1 << FrameType.PONG) | (1 << FrameType.GOAWAY)

export interface Frame {
  type: FrameTypeCode
  flags: number
  streamId: number
  payload: Buffer
  /**
   * DATA only: more of this frame's payload follows in further Frame objects (END, if set, comes on
   * the last). A DATA payload is handed on as it arrives, in the pieces the socket delivered, so large
   * bodies are never copied to reassemble frames.
   */
  more?: boolean
}

export function frameTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `0x${type.toString(16)}`
}

/** The 12-byte header alone, so that a large payload can be written after it without a copy. */
export function encodeFrameHeader(type: FrameTypeCode, flags: number, streamId: number, payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  header[0] = type
  header[1] = flags
  header.writeUInt16BE(0, 2)
  header.writeUInt32BE(streamId, 4)
  header.writeUInt32BE(payloadBytes, 8)
  return header
}

export function encodeFrame(type: FrameTypeCode, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([encodeFrameHeader(type, flags, streamId, payload.length), payload])
}

export function encodeJsonFrame(type: FrameTypeCode, flags: number, streamId: number, value: unknown): Buffer {
  return encodeFrame(type, flags, streamId, Buffer.from(stringifyJson(value, `a ${frameTypeName(type)} frame`), 'utf8'))
}

export function encodeWindowFrame(streamId: number, incrementBytes: number): Buffer {
  const payload = Buffer.allocUnsafe(4)
  payload.writeUInt32BE(incrementBytes, 0)
  return encodeFrame(FrameType.WINDOW, 0, streamId, payload)
}

/** The big-endian u32 at `at` (the caller made sure the 4 bytes are there). */
export function readU32(buffer: Uint8Array, at: number): number {
  return buffer[at]! * 0x1_00_00_00 + ((buffer[at + 1]! << 16) | (buffer[at + 2]! << 8) | buffer[at + 3]!)
}

/** Writes `value` (a u32) big endian at `at`. */
export function writeU32(buffer: Uint8Array, at: number, value: number): void {
  buffer[at] = value >>> 24
  buffer[at + 1] = value >>> 16
  buffer[at + 2] = value >>> 8
  buffer[at + 3] = value
}

/** Writes `value` (a u16) big endian at `at`. */
export function writeU16(buffer: Uint8Array, at: number, value: number): void {
  buffer[at] = value >>> 8
  buffer[at + 1] = value
}

export interface FrameDecoderOptions {
  maxPayloadBytes?: number
  onFrame: (frame: Frame) => void
  /** Called once, for bytes that cannot be framed (unknown type, bad header, over-limit); later input is ignored. */
  onError: (error: RestwireError) => void
  /**
   * onFrame gets one Frame object, filled anew for each frame (no object per frame): for a consumer that
   * keeps nothing of a frame past its onFrame call but the payload.
   */
  reuseFrame?: boolean
}

export class FrameDecoder {
  private readonly maxPayloadBytes: number
  /**
   * Unread input as received, the first chunk from `offset` on: frames are cut out with at most one
   * copy, even when split across many chunks, and a chunk holding many frames is not re-sliced per frame.
   */
  private chunks: Buffer[] = []
  private offset = 0
  private buffered = 0
  private failed = false
  /** The DATA frame whose payload is being handed on. */
  private data: {flags: number; remaining: number; streamId: number} | undefined
  private readonly reused: Frame | undefined

  constructor(private readonly options: FrameDecoderOptions) {
    this.maxPayloadBytes = options.maxPayloadBytes ?? MAX_FRAME_PAYLOAD_BYTES
    this.reused = options.reuseFrame ? {flags: 0, more: false, payload: EMPTY, streamId: 0, type: FrameType.HELLO} : undefined
  }

  private emit(type: FrameTypeCode, flags: number, streamId: number, payload: Buffer, more: boolean): void {
    const frame = this.reused
    if (!frame) return this.options.onFrame(type === FrameType.DATA ? {flags, more, payload, streamId, type} : {flags, payload, streamId, type})
    frame.type = type
    frame.flags = flags
    frame.streamId = streamId
    frame.payload = payload
    frame.more = more
    this.options.onFrame(frame)
    // An idle connection must not keep its last socket chunk alive through the frame.
    frame.payload = EMPTY
  }

  get bufferedBytes(): number {
    return this.buffered
  }

  push(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
    for (;;) {
      if (this.data) {
        if (!this.deliverData(this.data)) return
        continue
      }

      if (this.buffered < FRAME_HEADER_BYTES) return
      const head = this.peekHeader()
      const at = this.offset
      const type = head[at]!
      const flags = head[at + 1]!
      // Byte by byte: Buffer's read methods on chunks of several shapes cost a generic property load each.
      const reserved = (head[at + 2]! << 8) | head[at + 3]!
      const streamId = readU32(head, at + 4)
      const length = readU32(head, at + 8)
      const problem = this.checkHeader(type, flags, reserved, streamId, length)
      if (problem) {
        this.fail(problem)
        return
      }

      if (type === FrameType.DATA && length > 0) {
        this.skip(FRAME_HEADER_BYTES)
        this.data = {flags, remaining: length, streamId}
        continue
      }

      if (this.buffered < FRAME_HEADER_BYTES + length) return
      this.emit(type as FrameTypeCode, flags, streamId, this.takePayload(length), false)
      if (this.failed) return
    }
  }

  /** Hands on the DATA payload bytes buffered so far, as views; false when more input is needed. */
  private deliverData(data: {flags: number; remaining: number; streamId: number}): boolean {
    if (this.buffered === 0) return false
    const size = Math.min(data.remaining, this.chunks[0]!.length - this.offset)
    const piece = this.take(size)
    data.remaining -= size
    const more = data.remaining > 0
    if (!more) this.data = undefined
    this.emit(FrameType.DATA, more ? data.flags & ~FLAG_END : data.flags, data.streamId, piece, more)
    return !this.failed
  }

  /** The chunk holding the next 12 bytes from `offset`, joining the first chunks when a header is split. */
  private peekHeader(): Buffer {
    const first = this.chunks[0]!
    if (first.length - this.offset < FRAME_HEADER_BYTES) {
      const joined = Buffer.concat([first.subarray(this.offset), ...this.chunks.slice(1)], this.buffered)
      this.chunks = [joined]
      this.offset = 0
      return joined
    }

    return first
  }

  /** Removes a header and its payload; returns the payload (one view when the frame sits in one chunk). */
  private takePayload(length: number): Buffer {
    const total = FRAME_HEADER_BYTES + length
    const first = this.chunks[0]!
    const at = this.offset
    if (first.length - at < total) return this.take(total).subarray(FRAME_HEADER_BYTES)
    this.consumed(first, at + total)
    this.buffered -= total
    return first.subarray(at + FRAME_HEADER_BYTES, at + total)
  }

  /** The first chunk is read up to `end`: drop it once read whole. */
  private consumed(first: Buffer, end: number): void {
    if (end === first.length) {
      this.chunks.shift()
      this.offset = 0
    } else this.offset = end
  }

  /** Drops the next n bytes, which sit in the first chunk (a DATA header: peekHeader made it so). */
  private skip(n: number): void {
    this.buffered -= n
    this.consumed(this.chunks[0]!, this.offset + n)
  }

  /** Removes and returns the next n bytes (a view when they sit in one chunk, else one copy). */
  private take(n: number): Buffer {
    this.buffered -= n
    const first = this.chunks[0]!
    const at = this.offset
    if (first.length - at >= n) {
      this.consumed(first, at + n)
      return first.subarray(at, at + n)
    }

    const out = Buffer.allocUnsafe(n)
    let offset = 0
    while (offset < n) {
      const chunk = this.chunks[0]!
      const from = this.offset
      const size = Math.min(chunk.length - from, n - offset)
      chunk.copy(out, offset, from, from + size)
      offset += size
      this.consumed(chunk, from + size)
    }

    return out
  }

  private checkHeader(type: number, flags: number, reserved: number, streamId: number, length: number): RestwireError | undefined {
    if (!(type in TYPE_NAMES)) return new FrameCorruptError(`unknown frame type 0x${type.toString(16)}`)
    if ((flags & ~KNOWN_FLAGS) !== 0) return new FrameCorruptError(`unknown flags 0x${flags.toString(16)} on a ${frameTypeName(type)} frame`)
    if (reserved !== 0) return new FrameCorruptError(`reserved header bits set on a ${frameTypeName(type)} frame`)
    if (flags & FLAG_INLINE && ((type !== FrameType.EVENT && type !== FrameType.REPLY) || !(flags & FLAG_END) || length < 2)) {
      return new FrameCorruptError(`INLINE on a ${frameTypeName(type)} frame that cannot carry it`)
    }
    const connectionFrame = ((CONNECTION_TYPES >> type) & 1) === 1
    if (connectionFrame !== (streamId === 0)) {
      return new FrameCorruptError(`a ${frameTypeName(type)} frame on stream ${streamId}`)
    }

    if (length > this.maxPayloadBytes) {
      return new RestwireError('RW_ERR_FRAME_TOO_LARGE', `a ${frameTypeName(type)} frame of ${length} bytes exceeds the ${this.maxPayloadBytes} byte limit`)
    }

    return undefined
  }

  private fail(error: RestwireError): void {
    this.failed = true
    this.chunks = []
    this.offset = 0
    this.buffered = 0
    this.data = undefined
    this.options.onError(error)
  }
}
