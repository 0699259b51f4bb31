// Relay lines from a byte stream, both ways: the server's request lines (connection.ts) and the
// client's reply lines (client.ts). Each line ends in "\n" (a "\r" before it is dropped; empty lines are
// skipped). Unlike NdjsonDecoder, a line over the limit does not end the stream: its bytes are skipped up
// to the next newline, reported once, and decoding goes on, so the relay can answer it and keep the
// connection (the client gives up instead). A partial line is dropped by stop() at the close.
// `pause()` (called from onLine when a connection holds as many requests as it may) keeps the rest of
// the chunk undecoded until `resume()`: one chunk at most, since the socket is paused with it.
// With `onText` (the server's request lines), the complete lines of a chunk are decoded to text at once
// when every byte is one character, which keeps a line's length equal to its size for the limits.
const NEWLINE = 0x0a
const CR = 0x0d

export interface RelayLineDecoderOptions {
  maxLineBytes: number
  onLine: (line: Buffer) => void
  /**
   * Optional: lines as text. When set, the complete lines of a chunk are decoded to text at once, and a
   * line that decoded one character per byte (its `length` is its byte count) comes here instead of onLine.
   */
  onText?: (line: string) => void
  /** Once per over-long line, when its end (or the limit) is reached. */
  onOverlong: (maxLineBytes: number) => void
}

export class RelayLineDecoder {
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Inside an over-long line: drop bytes until the next newline. */
  private skipping = false
  private stopped = false
  private paused = false
  /** Bytes received while paused, decoded on resume. */
  private held: Buffer[] = []

  constructor(private readonly options: RelayLineDecoderOptions) {}

  push(chunk: Buffer): void {
    if (this.paused) {
      if (!this.stopped) this.held.push(chunk)
      return
    }

    let start = 0
    let end = chunk.indexOf(NEWLINE)
    if (end !== -1 && this.options.onText !== undefined && this.pending.length === 0 && !this.skipping && !this.stopped) {
      const last = chunk.lastIndexOf(NEWLINE)
      const text = chunk.toString('utf8', 0, last)
      // As long as the bytes: each byte is one character (ASCII, or an invalid byte as U+FFFD, as the
      // Buffer path would decode it), so a character offset is a byte offset and a line's length its size.
      if (text.length === last) {
        start = this.emitText(chunk, text)
        if (start === -1) return
        end = -1
      }
    }

    while (end !== -1 && !this.stopped) {
      if (this.paused) {
        this.held.push(chunk.subarray(start))
        return
      }

      if (this.skipping) {
        this.skipping = false
      } else {
        this.emit(chunk.subarray(start, end))
      }

      start = end + 1
      end = chunk.indexOf(NEWLINE, start)
    }

    if (start >= chunk.length || this.skipping || this.stopped) return
    this.pending.push(chunk.subarray(start))
    this.pendingBytes += chunk.length - start
    // +1: a "\r" may still be followed by the "\n" that ends a line of exactly the limit.
    if (this.pendingBytes > this.options.maxLineBytes + 1) {
      this.dropPending()
      this.skipping = true
      this.options.onOverlong(this.options.maxLineBytes)
    }
  }

  /** Ignores later input (the connection is closing). */
  stop(): void {
    this.stopped = true
    this.held = []
    this.dropPending()
  }

  /** Holds input undecoded (from the next line on) until resume(). */
  pause(): void {
    this.paused = true
  }

  /** Decodes what was held, unless a line in it pauses again. */
  resume(): void {
    this.paused = false
    const held = this.held
    this.held = []
    for (let index = 0; index < held.length; index++) {
      if (this.paused) {
        this.held.push(...held.slice(index))
        return
      }

      this.push(held[index]!)
    }
  }

  /** The lines of `text` (a chunk's bytes up to its last newline); the byte offset after them, -1 when stopped or paused (the rest held). */
  private emitText(chunk: Buffer, text: string): number {
    const onText = this.options.onText!
    let from = 0
    while (from <= text.length) {
      if (this.stopped) return -1
      if (this.paused) {
        this.held.push(chunk.subarray(from))
        return -1
      }

      let newline = text.indexOf('\n', from)
      if (newline === -1) newline = text.length
      const stop = newline > from && text.charCodeAt(newline - 1) === CR ? newline - 1 : newline
      if (stop - from > this.options.maxLineBytes) this.options.onOverlong(this.options.maxLineBytes)
      else if (stop > from) onText(text.slice(from, stop))
      from = newline + 1
    }

    return from
  }

  private emit(tail: Buffer): void {
    let line = tail
    if (this.pending.length > 0) {
      line = Buffer.concat([...this.pending, tail], this.pendingBytes + tail.length)
      this.dropPending()
    }

    const length = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length
    if (length > this.options.maxLineBytes) this.options.onOverlong(this.options.maxLineBytes)
    else if (length > 0) this.options.onLine(line.subarray(0, length))
  }

  private dropPending(): void {
    this.pending = []
    this.pendingBytes = 0
  }
}
