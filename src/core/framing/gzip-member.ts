// Gzip-member framing (korv, tunnel): each message is one complete gzip member (RFC 1952),
// back to back on a byte stream, with no length prefix and no delimiter.
//
// Member layout (RFC 1952 §2.3):
//   +---+---+---+---+---+---+---+---+---+---+
//   |ID1|ID2|CM |FLG|     MTIME     |XFL|OS |   ID1=0x1f ID2=0x8b CM=8 (deflate)
//   +---+---+---+---+---+---+---+---+---+---+
//   [FEXTRA: XLEN(2, LE) + XLEN bytes] [FNAME: bytes, 0] [FCOMMENT: bytes, 0] [FHCRC: 2 bytes]
//   deflate data (RFC 1951) ...
//   +---+---+---+---+---+---+---+---+
//   |     CRC32     |     ISIZE     |   both little-endian; ISIZE = length mod 2^32
//   +---+---+---+---+---+---+---+---+
import type * as ModuleNs from 'node:module'
import zlib from 'node:zlib'
import {RestwireError, errorForCode} from '../errors.js'

/** The decoder fails with these codes only: a FrameCorruptError, or RW_ERR_FRAME_TOO_LARGE. */
export type GzipFailureCode = 'RW_ERR_FRAME_CORRUPT' | 'RW_ERR_FRAME_TOO_LARGE'

/** Largest decompressed message accepted unless told otherwise (PROTOCOLS.md: 16 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

/** Payloads up to this size are sent as stored (uncompressed) deflate blocks: no zlib context, no CPU. */
export const STORED_THRESHOLD_BYTES = 8 * 1024
const MAX_STORED_BLOCK_BYTES = 0xffff
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])
const FHCRC = 2
const FEXTRA = 4
const FNAME = 8
const FCOMMENT = 16
/** A header's optional name and comment fields may not grow without bound either. */
const MAX_HEADER_BYTES = 64 * 1024
const STORED_REASSEMBLY_LIMIT_BYTES = 256 * 1024

/**
 * Encodes one payload as one gzip member. Small payloads use stored blocks (a valid member that any
 * gzip reader accepts, built without zlib); larger ones are deflated at `level`. A small string is
 * written straight into the member, without an intermediate Buffer.
 */
export function encodeGzipMember(payload: Buffer | string, level = 1): Buffer {
  if (typeof payload === 'string') {
    const length = Buffer.byteLength(payload)
    if (length > STORED_THRESHOLD_BYTES) return zlib.gzipSync(Buffer.from(payload), {level})
    const out = Buffer.allocUnsafe(GZIP_HEADER.length + 5 + length + 8)
    GZIP_HEADER.copy(out, 0)
    const at = GZIP_HEADER.length
    out[at] = 1
    out.writeUInt16LE(length, at + 1)
    out.writeUInt16LE(~length & 0xffff, at + 3)
    out.write(payload, at + 5)
    out.writeUInt32LE(zlib.crc32(out.subarray(at + 5, at + 5 + length)), at + 5 + length)
    out.writeUInt32LE(length, at + 9 + length)
    return out
  }

  if (payload.length > STORED_THRESHOLD_BYTES) return zlib.gzipSync(payload, {level})
  const blocks = Math.max(1, Math.ceil(payload.length / MAX_STORED_BLOCK_BYTES))
  const out = Buffer.allocUnsafe(GZIP_HEADER.length + blocks * 5 + payload.length + 8)
  GZIP_HEADER.copy(out, 0)
  let at = GZIP_HEADER.length
  for (let block = 0, from = 0; block < blocks; block++) {
    const length = Math.min(MAX_STORED_BLOCK_BYTES, payload.length - from)
    out[at] = block === blocks - 1 ? 1 : 0
    out.writeUInt16LE(length, at + 1)
    out.writeUInt16LE(~length & 0xffff, at + 3)
    payload.copy(out, at + 5, from, from + length)
    at += 5 + length
    from += length
  }

  out.writeUInt32LE(zlib.crc32(payload), at)
  out.writeUInt32LE(payload.length >>> 0, at + 4)
  return out
}

export interface GzipMemberDecoderOptions {
  /** Largest decompressed payload accepted; a larger member is a framing error. */
  maxMessageBytes?: number
  onMessage: (payload: Buffer) => void
  /** Called once; the stream cannot be framed any further and later input is ignored. */
  onError: (error: RestwireError & {readonly code: GzipFailureCode}) => void
}

interface PakoInflate {
  push(data: Uint8Array, flush: boolean): boolean
  onData: (chunk: Uint8Array) => void
  onEnd: (status: number) => void
  ended: boolean
  strm: {avail_in: number; msg?: string}
}

type PakoModule = {Inflate: new (options: {raw: boolean; chunkSize: number}) => PakoInflate}
let pako: PakoModule | undefined
// pako gives an incremental inflate that reports where the deflate stream ended (node:zlib's sync API
// cannot be fed in pieces). Loaded only when a peer sends compressed members, and node:module with it
// (its ES module loader parts were 0.6 ms of every `korv call`'s start).
const loadPako = (): PakoModule =>
  (pako ??= (process.getBuiltinModule('node:module') as typeof ModuleNs.Module).createRequire(import.meta.url)('pako') as PakoModule)

class TooLarge extends Error {}

/**
 * Decodes back-to-back gzip members from a byte stream fed with push(chunk). A member may be split over
 * many chunks and one chunk may hold many members. Stored-block members are decoded directly; compressed
 * ones through an incremental inflate, so a large member costs O(size), not O(size × chunks).
 */
export class GzipMemberDecoder {
  private readonly maxMessageBytes: number
  private readonly maxBufferedBytes: number
  private readonly onMessage: (payload: Buffer) => void
  private readonly onError: (error: RestwireError & {readonly code: GzipFailureCode}) => void
  private chunks: Buffer[] = []
  private buffered = 0
  /** Do not look at the buffer again until this many bytes are there. */
  private needBytes = 1
  private inflate: {engine: PakoInflate; failure: string | undefined; output: Buffer[]; outputBytes: number} | undefined
  private failed = false

  constructor(options: GzipMemberDecoderOptions) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    // Deflate can expand incompressible data slightly; stored blocks add 5 bytes per 64 KiB.
    this.maxBufferedBytes = this.maxMessageBytes + Math.ceil(this.maxMessageBytes / 1000) + MAX_HEADER_BYTES + 1024
    this.onMessage = options.onMessage
    this.onError = options.onError
  }

  /** Bytes held while waiting for the rest of a member. */
  get bufferedBytes(): number {
    return this.buffered
  }

  /** Memory held for a member not yet complete: raw bytes waiting plus what was inflated so far. */
  get heldBytes(): number {
    return this.buffered + (this.inflate ? this.inflate.outputBytes : 0)
  }

  push(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return
    if (this.inflate) {
      this.feedInflate(chunk)
      return
    }

    this.chunks.push(chunk)
    this.buffered += chunk.length
    if (this.buffered > this.maxBufferedBytes) {
      this.fail('RW_ERR_FRAME_TOO_LARGE', `message exceeds the ${this.maxMessageBytes} byte limit`)
      return
    }

    if (this.buffered >= this.needBytes) this.drain()
  }

  private drain(): void {
    let buffer = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered)
    this.chunks = []
    this.buffered = 0
    while (buffer.length > 0 && !this.failed && !this.inflate) {
      const used = this.decodeOne(buffer)
      if (used === 0) break
      buffer = buffer.subarray(used)
    }

    if (buffer.length > 0 && !this.failed) {
      if (this.inflate) this.feedInflate(buffer)
      else {
        this.chunks = [buffer]
        this.buffered = buffer.length
      }
    }
  }

  /** Decodes one member at the start of `buf`; returns the bytes consumed, or 0 when more are needed. */
  private decodeOne(buf: Buffer): number {
    const bodyAt = this.parseHeader(buf)
    if (bodyAt <= 0) return 0
    // Fast path: a member made only of stored blocks; the common single-block one is a view of `buf`,
    // without an array or a copy.
    let first: Buffer | undefined
    let parts: Buffer[] | undefined
    let at = bodyAt
    let total = 0
    for (;;) {
      // A large stored member arriving in pieces goes to the incremental inflater rather than being
      // re-concatenated on every chunk.
      if (at + 5 > buf.length && buf.length - bodyAt > STORED_REASSEMBLY_LIMIT_BYTES) return this.startInflate(buf, bodyAt)
      if (at >= buf.length) return this.wait(at + 5)
      const flags = buf[at]!
      if (((flags >> 1) & 3) !== 0) break
      if (at + 5 > buf.length) return this.wait(at + 5)
      const length = buf.readUInt16LE(at + 1)
      if ((length ^ 0xffff) !== buf.readUInt16LE(at + 3)) return this.fail('RW_ERR_FRAME_CORRUPT', 'invalid stored block length')
      total += length
      if (total > this.maxMessageBytes) return this.fail('RW_ERR_FRAME_TOO_LARGE', `message exceeds the ${this.maxMessageBytes} byte limit`)
      if (at + 5 + length > buf.length) {
        if (buf.length - bodyAt > STORED_REASSEMBLY_LIMIT_BYTES) return this.startInflate(buf, bodyAt)
        return this.wait(at + 5 + length + (flags & 1 ? 8 : 5))
      }

      const part = buf.subarray(at + 5, at + 5 + length)
      if (first === undefined) first = part
      else (parts ??= [first]).push(part)
      at += 5 + length
      if (flags & 1) {
        if (at + 8 > buf.length) return this.wait(at + 8)
        const payload = parts ? Buffer.concat(parts, total) : first!
        return this.finishMember(payload, buf, at) ? at + 8 : 0
      }
    }

    // Compressed blocks (possibly after stored ones): the inflater takes the whole member.
    return this.startInflate(buf, bodyAt)
  }

  /** Returns the offset of the deflate data, 0 when the header is incomplete, -1 after failing. */
  private parseHeader(buf: Buffer): number {
    if (buf.length < 10) return this.wait(10)
    if (buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 8) return this.fail('RW_ERR_FRAME_CORRUPT', 'not a gzip member (bad magic bytes)') - 1
    const flags = buf[3]!
    let at = 10
    if (flags & FEXTRA) {
      if (buf.length < at + 2) return this.wait(at + 2)
      at += 2 + buf.readUInt16LE(at)
    }

    for (const field of [FNAME, FCOMMENT]) {
      if (!(flags & field)) continue
      const end = buf.indexOf(0, at)
      if (end === -1) {
        if (buf.length > MAX_HEADER_BYTES) return this.fail('RW_ERR_FRAME_CORRUPT', 'gzip header field too long') - 1
        return this.wait(buf.length + 1)
      }

      at = end + 1
    }

    if (flags & FHCRC) at += 2
    if (buf.length <= at) return this.wait(at + 1)
    return at
  }

  /** Hands the member whose deflate data starts at `bodyAt` to the inflater; consumes all of `buf`. */
  private startInflate(buf: Buffer, bodyAt: number): number {
    const {Inflate} = loadPako()
    const engine = new Inflate({raw: true, chunkSize: 64 * 1024})
    const state = {engine, failure: undefined as string | undefined, output: [] as Buffer[], outputBytes: 0}
    engine.onData = (chunk) => {
      state.outputBytes += chunk.length
      if (state.outputBytes > this.maxMessageBytes) throw new TooLarge()
      state.output.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))
    }

    // pako reports a corrupt stream (a reserved block type, a bad distance...) only through onEnd: a
    // handler that drops the status makes the member look complete and empty.
    engine.onEnd = (status) => {
      if (status !== 0) state.failure = engine.strm.msg || `inflate status ${status}`
    }
    this.inflate = state
    this.feedInflate(buf.subarray(bodyAt))
    return buf.length
  }

  private feedInflate(chunk: Buffer): void {
    const state = this.inflate!
    if (state.engine.ended) {
      // Waiting for the 8-byte trailer after the deflate data.
      this.chunks.push(chunk)
      this.buffered += chunk.length
      this.finishInflate()
      return
    }

    try {
      state.engine.push(chunk, false)
    } catch (error) {
      // Anything else pako throws is still the peer's bytes: never let it escape into a socket handler.
      if (error instanceof TooLarge) this.fail('RW_ERR_FRAME_TOO_LARGE', `message exceeds the ${this.maxMessageBytes} byte limit`)
      else this.fail('RW_ERR_FRAME_CORRUPT', `corrupt deflate data: ${(error as Error)?.message ?? String(error)}`)
      return
    }

    if (state.failure !== undefined) {
      this.fail('RW_ERR_FRAME_CORRUPT', `corrupt deflate data: ${state.failure}`)
      return
    }

    if (!state.engine.ended) return
    const left = state.engine.strm.avail_in
    this.chunks = left > 0 ? [chunk.subarray(chunk.length - left)] : []
    this.buffered = left
    this.finishInflate()
  }

  private finishInflate(): void {
    if (this.buffered < 8) return
    const state = this.inflate!
    const rest = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered)
    this.inflate = undefined
    this.chunks = []
    this.buffered = 0
    const payload = state.output.length === 1 ? state.output[0]! : Buffer.concat(state.output, state.outputBytes)
    if (!this.finishMember(payload, rest, 0)) return
    this.needBytes = 1
    if (rest.length > 8) this.push(rest.subarray(8))
  }

  /** Checks the trailer at `at` and emits the payload. */
  private finishMember(payload: Buffer, buf: Buffer, at: number): boolean {
    if (buf.readUInt32LE(at) !== zlib.crc32(payload) || buf.readUInt32LE(at + 4) !== payload.length >>> 0) {
      this.fail('RW_ERR_FRAME_CORRUPT', 'gzip member checksum mismatch')
      return false
    }

    this.needBytes = 1
    this.onMessage(payload)
    return true
  }

  private wait(bytes: number): 0 {
    this.needBytes = bytes
    return 0
  }

  private fail(code: GzipFailureCode, message: string): 0 {
    if (this.failed) return 0
    this.failed = true
    this.chunks = []
    this.buffered = 0
    this.inflate = undefined
    this.onError(errorForCode(code, message))
    return 0
  }
}
