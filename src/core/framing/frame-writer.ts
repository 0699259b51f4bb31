// Writes encoded frames to a stream, optionally coalescing the frames of one event-loop turn into one
// write (one SSH packet instead of many; the first write of a turn goes out early once about 2 KiB wait,
// later ones once 16 KiB do). Only for peers that decode coalesced input: Korv's Python peers read one
// message per packet and need one write each.

/**
 * A turn that queues this much writes it at once instead of at the end of the turn, so that the peer
 * starts on the first messages while this side produces the rest (both sides otherwise take turns,
 * each idle while the other works): korv at c=64 went from 53 000 to 75 000 req/s.
 */
const EARLY_FLUSH_BYTES = 2048
/**
 * After that first early write, the rest of the turn is written in larger pieces: the peer already has
 * work, and every write is a syscall that on loopback also runs the peer's TCP receive (the korv
 * server's top self-time at c=64, 14%). Halves the writes per request at c=64 (issue 15).
 */
const LATER_FLUSH_BYTES = 16 * 1024

export interface FrameSink {
  write(chunk: Buffer): boolean
}

/**
 * When the frames of a turn go out: `immediate` at the end of the event-loop turn (setImmediate),
 * `tick` as soon as the code that wrote them has run (process.nextTick: after the current callback and
 * the promise jobs it started). A socket read decodes to many messages in one callback, so both
 * coalesce the same answers; `tick` skips the rest of the poll phase and the check phase, the wait
 * a lone request (concurrency 1) paid on each side.
 */
export type FlushTiming = 'immediate' | 'tick'

export class FrameWriter {
  private queue: Buffer[] = []
  private queuedBytes = 0
  private scheduled = false
  private closed = false
  private flushAt = EARLY_FLUSH_BYTES

  private readonly schedule: (callback: () => void) => void

  constructor(
    private readonly sink: FrameSink,
    private readonly coalesce: boolean,
    timing: FlushTiming = 'immediate',
  ) {
    this.schedule = timing === 'tick' ? process.nextTick : setImmediate
  }

  write(frame: Buffer): void {
    if (this.closed) return
    if (!this.coalesce) {
      this.sink.write(frame)
      return
    }

    this.queue.push(frame)
    this.queuedBytes += frame.length
    if (!this.scheduled) {
      // Also after an early write: the turn's end resets the threshold.
      this.scheduled = true
      this.schedule(this.onTurnEnd)
    }

    if (this.queuedBytes >= this.flushAt) {
      this.flushAt = LATER_FLUSH_BYTES
      this.flush()
    }
  }

  private readonly onTurnEnd = (): void => {
    this.scheduled = false
    this.flushAt = EARLY_FLUSH_BYTES
    this.flush()
  }

  readonly flush = (): void => {
    if (this.closed || this.queue.length === 0) return
    const data = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue, this.queuedBytes)
    this.queue = []
    this.queuedBytes = 0
    this.sink.write(data)
  }

  /** Drops anything queued; later writes are ignored. */
  close(): void {
    this.closed = true
    this.queue = []
    this.queuedBytes = 0
  }
}
