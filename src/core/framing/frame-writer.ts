// Writes encoded frames to a stream, optionally coalescing all frames of one event-loop turn into one
// write (one SSH packet instead of many). Only for peers that decode coalesced input: Korv's Python
// peers read one message per packet and must get one write per message.

export interface FrameSink {
  write(chunk: Buffer): boolean
}

export class FrameWriter {
  private queue: Buffer[] = []
  private queuedBytes = 0
  private scheduled = false
  private closed = false

  constructor(
    private readonly sink: FrameSink,
    private readonly coalesce: boolean,
  ) {}

  write(frame: Buffer): void {
    if (this.closed) return
    if (!this.coalesce) {
      this.sink.write(frame)
      return
    }

    this.queue.push(frame)
    this.queuedBytes += frame.length
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  readonly flush = (): void => {
    this.scheduled = false
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
