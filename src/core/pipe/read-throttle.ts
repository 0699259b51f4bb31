// Backpressure on what a peer sends: a connection stops being read while its replies wait to be
// written (a peer that sends and never reads) or while the event and reply bodies it has sent wait
// unconsumed above a budget (streams whose handlers or callers read slowly). One check per chunk read.
import type {FrameQueue} from './frame-queue.js'

/** The part of a socket the throttle uses: how much output waits, and pausing its reads. */
export interface ReadControl {
  readonly writableLength: number
  readonly destroyed: boolean
  pause(): void
  resume(): void
}

/**
 * Reading stops while this much of our output waits for the peer (resumed on 'drain'): every frame the
 * peer sends may cause a reply (PONG, RESET, REPLY, WINDOW). Body pumps already stop at the socket's own mark.
 */
export const OUTPUT_HIGH_WATER_BYTES = 1024 * 1024
/**
 * Body bytes a connection may hold received and not yet consumed, over all its streams (each stream is
 * also bounded by its window): 16 windows of 4 MiB. Reading resumes below half of it.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024

export class ReadThrottle {
  private paused = false
  /** Body bytes received on this connection's streams and not yet consumed. */
  private held = 0

  constructor(
    private readonly socket: ReadControl,
    private readonly out: FrameQueue,
    private readonly maxBufferedBytes: number,
  ) {}

  get buffered(): number {
    return this.held
  }

  /** Paused for our own readers (bodies unconsumed), not for a peer that does not read our output. */
  get waitingForReaders(): boolean {
    return this.paused && this.held > this.maxBufferedBytes / 2 && this.socket.writableLength + this.out.bytes <= OUTPUT_HIGH_WATER_BYTES
  }

  /** After each chunk is decoded. */
  check(): void {
    if (this.paused) return
    if (this.socket.writableLength + this.out.bytes > OUTPUT_HIGH_WATER_BYTES || this.held > this.maxBufferedBytes) {
      this.paused = true
      this.socket.pause()
    }
  }

  received(bytes: number): void {
    this.held += bytes
  }

  /** Consumed (credit granted back) or dropped with its stream. */
  released(bytes: number): void {
    this.held -= bytes
    if (this.paused) this.resumeIfBelow()
  }

  /** The socket's 'drain'. */
  drained(): void {
    if (this.paused) this.resumeIfBelow()
  }

  private resumeIfBelow(): void {
    if (this.socket.writableLength + this.out.bytes > OUTPUT_HIGH_WATER_BYTES || this.held > this.maxBufferedBytes / 2 || this.socket.destroyed) return
    this.paused = false
    this.socket.resume()
  }
}
