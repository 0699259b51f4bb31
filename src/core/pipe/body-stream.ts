// Bodies on a pipe stream: the receiving side is a Readable that grants the sender credit (WINDOW) as
// the consumer reads, and the sending side is a pump that never sends past the credit it holds. So a
// slow reader holds up only its own stream, and memory stays bounded by the window size per stream.
import {Readable} from 'node:stream'
import {PeerGoneError} from '../errors.js'

/** Credit each side of a stream starts with: how much body may be sent before the reader grants more. */
export const DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024
const READ_HIGH_WATER_BYTES = 64 * 1024

export type BodySource = Buffer | string | Uint8Array | AsyncIterable<Buffer | Uint8Array | string>

/** A body as it arrives: push() what DATA frames carry, and the reader's progress grants credit. */
export class BodyReadable extends Readable {
  private received = 0
  private granted = 0
  private readonly thresholdBytes: number

  constructor(
    private readonly windowBytes: number,
    private readonly grant: (bytes: number) => void,
    /** Credit accounting carried over from an IncomingBody that buffered the first chunks. */
    carried: {received: number; granted: number} = {granted: 0, received: 0},
  ) {
    super({highWaterMark: READ_HIGH_WATER_BYTES})
    this.received = carried.received
    this.granted = carried.granted
    // Granting in steps of a quarter window keeps WINDOW frames rare and the sender busy; the step plus
    // the read buffer stays below the window, so the sender can never be starved.
    this.thresholdBytes = Math.max(1, Math.min(Math.floor(windowBytes / 4), windowBytes - READ_HIGH_WATER_BYTES))
  }

  /** The sender's unused credit: how much more it may send before waiting for WINDOW. */
  get outstandingBytes(): number {
    return this.windowBytes - (this.received - this.granted)
  }

  /** Bytes received and not yet consumed (credit not yet granted back). */
  get unconsumedBytes(): number {
    return this.received - this.granted
  }

  /** Returns false when the sender overran its credit (a protocol violation). */
  deliver(chunk: Buffer): boolean {
    if (chunk.length > this.outstandingBytes) return false
    this.received += chunk.length
    if (chunk.length > 0) this.push(chunk)
    return true
  }

  finish(): void {
    this.push(null)
  }

  /** The whole body, refusing more than maxBytes; cheaper than async iteration for small bodies. */
  readAll(maxBytes: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let size = 0
      this.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxBytes) {
          this.destroy()
          reject(new RangeError(`the body is larger than ${maxBytes} bytes`))
          return
        }

        chunks.push(chunk)
      })
      this.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
      this.once('error', reject)
      this.once('close', () => {
        if (!this.readableEnded) reject(new PeerGoneError('the body ended early: the event was reset or the connection dropped'))
      })
    })
  }

  // Credit follows consumption, which always goes through read() (async iteration, 'data' events and
  // pipe() all call it). _read() cannot be the trigger: Node calls it once and then not again until the
  // next push(), and when the buffer is full at that moment, no push comes until credit is granted.
  override read(size?: number): unknown {
    const chunk: unknown = super.read(size)
    this.grantConsumed()
    return chunk
  }

  override _read(): void {
    this.grantConsumed()
  }

  private grantConsumed(): void {
    if (this.readableEnded) return
    const consumed = this.received - this.readableLength
    const owed = consumed - this.granted
    if (owed >= this.thresholdBytes || (owed > 0 && this.readableLength === 0)) {
      this.granted += owed
      this.grant(owed)
    }
  }
}

/** Reads a body whole, refusing more than maxBytes. */
export async function readBody(body: AsyncIterable<Buffer | Uint8Array | string>, maxBytes: number): Promise<Buffer> {
  if (body instanceof BodyReadable) return body.readAll(maxBytes)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    size += buffer.length
    if (size > maxBytes) throw new RangeError(`the body is larger than ${maxBytes} bytes`)
    chunks.push(buffer)
  }

  return Buffer.concat(chunks, size)
}

export function toBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

/** Credit for one sending side: take() waits until some is available or the stream is stopped. */
export class SendWindow {
  private waiter: (() => void) | undefined
  stopped = false

  constructor(private available: number) {}

  add(bytes: number): void {
    this.available += bytes
    this.wake()
  }

  stop(): void {
    this.stopped = true
    this.wake()
  }

  /** Takes exactly `bytes` of credit if it is there now. */
  takeNow(bytes: number): boolean {
    if (this.stopped || this.available < bytes) return false
    this.available -= bytes
    return true
  }

  /** Up to `wanted` bytes of credit; 0 once stopped. */
  async take(wanted: number): Promise<number> {
    while (this.available === 0 && !this.stopped) await new Promise<void>((resolve) => (this.waiter = resolve))
    if (this.stopped) return 0
    const granted = Math.min(wanted, this.available)
    this.available -= granted
    return granted
  }

  private wake(): void {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.()
  }
}
