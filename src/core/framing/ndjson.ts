// NDJSON line framing: one UTF-8 JSON value per line, ending in "\n" (a preceding "\r" is dropped).
// The decoder hands out raw lines; parsing JSON is the caller's job, so a bad line can be answered
// with an error while the stream stays usable.
import {RestwireError} from '../errors.js'

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
const NEWLINE = 0x0a
const CR = 0x0d

export interface NdjsonDecoderOptions {
  maxLineBytes?: number
  onLine: (line: Buffer) => void
  /** Called once, for a line over the limit; later input is ignored. */
  onError: (error: RestwireError) => void
}

export class NdjsonDecoder {
  private readonly maxLineBytes: number
  private readonly onLine: (line: Buffer) => void
  private readonly onError: (error: RestwireError) => void
  private pending: Buffer[] = []
  private pendingBytes = 0
  private failed = false

  constructor(options: NdjsonDecoderOptions) {
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
    this.onLine = options.onLine
    this.onError = options.onError
  }

  get bufferedBytes(): number {
    return this.pendingBytes
  }

  push(chunk: Buffer): void {
    if (this.failed) return
    let start = 0
    let end = chunk.indexOf(NEWLINE)
    while (end !== -1) {
      let line = chunk.subarray(start, end)
      if (this.pending.length > 0) {
        line = Buffer.concat([...this.pending, line], this.pendingBytes + line.length)
        this.pending = []
        this.pendingBytes = 0
      }

      if (line.length > this.maxLineBytes) return this.fail()
      const length = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length
      if (length > 0) this.onLine(line.subarray(0, length))
      if (this.failed) return
      start = end + 1
      end = chunk.indexOf(NEWLINE, start)
    }

    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start))
      this.pendingBytes += chunk.length - start
      if (this.pendingBytes > this.maxLineBytes) this.fail()
    }
  }

  /** Stops decoding; used when the owner closes the stream. */
  stop(): void {
    this.failed = true
    this.pending = []
    this.pendingBytes = 0
  }

  private fail(): void {
    this.stop()
    this.onError(new RestwireError('RW_ERR_FRAME_TOO_LARGE', `line exceeds the ${this.maxLineBytes} byte limit`))
  }
}

export function encodeNdjson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value) + '\n')
}
