// Log lines for a server's stderr, written in batches: one write per event-loop turn instead of one per
// line (a line per request cost the relay a write syscall per request). Bounded: when stderr takes
// nothing (a full pipe), at most MAX_PENDING_LOG_BYTES wait; later lines are dropped and counted, and the
// count is logged once stderr takes lines again. flushSync() writes what waits (on exit, after a stop
// signal), so the last lines are never lost to a batch still waiting for its turn.
import {writeSync} from 'node:fs'

export const MAX_PENDING_LOG_BYTES = 1024 * 1024
/** How soon a write that found stderr full (EAGAIN) is tried again. */
const RETRY_MS = 50
/** flushSync() at exit waits this long at most for a full stderr to take the rest. */
const EXIT_FLUSH_MS = 2000

export interface BatchedLogOptions {
  /** Default 2 (stderr). */
  fd?: number
  maxPendingBytes?: number
}

export class BatchedLog {
  private readonly fd: number
  private readonly maxPendingBytes: number
  private pending: string[] = []
  private pendingBytes = 0
  /** The part of a batch that a partial write left over, written before anything in `pending`. */
  private rest: Buffer | undefined
  private dropped = 0
  private scheduled = false
  private retry: NodeJS.Timeout | undefined
  /** stderr is gone (EPIPE, EBADF): lines are dropped from then on. */
  private broken = false

  constructor(options: BatchedLogOptions = {}) {
    this.fd = options.fd ?? 2
    this.maxPendingBytes = options.maxPendingBytes ?? MAX_PENDING_LOG_BYTES
  }

  /** Bytes waiting to be written (the bound's subject). */
  get waitingBytes(): number {
    return this.pendingBytes + (this.rest?.length ?? 0)
  }

  /** Queues one line (with its newline) for the end of this event-loop turn. */
  write(line: string): void {
    if (this.broken) return
    if (this.waitingBytes + line.length > this.maxPendingBytes) {
      this.dropped++
      return
    }

    if (this.dropped > 0) this.queueDropped()
    this.pending.push(line)
    this.pendingBytes += line.length
    if (!this.scheduled && this.retry === undefined) {
      this.scheduled = true
      setImmediate(this.onTurnEnd)
    }
  }

  /** Writes everything waiting now, blocking up to EXIT_FLUSH_MS on a full stderr. For exit paths. */
  flushSync(): void {
    clearTimeout(this.retry)
    this.retry = undefined
    if (this.dropped > 0) this.queueDropped()
    const deadline = Date.now() + EXIT_FLUSH_MS
    while (!this.broken && this.waitingBytes > 0 && this.writeSome() === 'full' && Date.now() < deadline) sleepMs(5)
  }

  private readonly onTurnEnd = (): void => {
    this.scheduled = false
    if (this.writeSome() === 'full') this.retry = setTimeout(this.onRetry, RETRY_MS)
  }

  private readonly onRetry = (): void => {
    this.retry = undefined
    this.onTurnEnd()
  }

  private queueDropped(): void {
    const line = `${new Date().toISOString()} ${this.dropped} log line${this.dropped === 1 ? '' : 's'} dropped: stderr took nothing while ${this.maxPendingBytes} bytes waited\n`
    this.dropped = 0
    this.pending.push(line)
    this.pendingBytes += line.length
  }

  /** One write of what waits; 'full' when stderr took less than all of it. */
  private writeSome(): 'done' | 'full' {
    if (this.rest === undefined && this.pending.length === 0) return 'done'
    const text = this.pending.join('')
    this.pending = []
    this.pendingBytes = 0
    // The common case, nothing left over: the text is written as it is (no Buffer made for it first).
    const batch: string | Buffer = this.rest === undefined ? text : text === '' ? this.rest : Buffer.concat([this.rest, Buffer.from(text)])
    let written = 0
    try {
      written = typeof batch === 'string' ? writeSync(this.fd, batch) : writeSync(this.fd, batch)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') {
        this.broken = true
        this.rest = undefined
        return 'done'
      }
    }

    // A string's length counts UTF-16 units: bytes only when it is all ASCII, so a short write is checked in bytes.
    const bytes = typeof batch === 'string' ? Buffer.byteLength(batch) : batch.length
    this.rest = written < bytes ? (typeof batch === 'string' ? Buffer.from(batch) : batch).subarray(written) : undefined
    return this.rest === undefined ? 'done' : 'full'
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4))
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms)
}
