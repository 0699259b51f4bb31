// Reply timeouts of one session's outgoing events, on one timer: a setTimeout (and its clear) per event
// was a measurable share of small-event cost (timer objects, list inserts, GC). The timer is armed at
// the earliest deadline; when it fires it expires what is due and re-arms at the next one. Deadlines
// only move later (body progress pushes them back), so with one timeout value the timer is re-armed
// about once per timeout period, not once per event. Time comes from a Clock (a fake one in tests).
import {type Clock, type ClockTimer, systemClock} from '../link/clock.js'

export interface Deadline {
  /** Clock time (performance.now() by default) after which the event has waited too long for its reply. */
  deadline: number
  timeoutMs: number
  /** Where the item sits in the pending list while pending (set by ReplyDeadlines; -1 or unset: not pending). */
  slot?: number
}

export class ReplyDeadlines<T extends Deadline> {
  /**
   * The pending items, each knowing its slot: add and delete are a push and a swap with the last, with
   * no hashing (a Set keyed by the stream object cost an identity hash and a hash-table insert per event).
   */
  private readonly pending: T[] = []
  private timer: ClockTimer | undefined
  /** When the timer fires; Infinity when it is not armed. */
  private armedAt = Number.POSITIVE_INFINITY
  private stopped = false

  constructor(
    private readonly expire: (item: T) => void,
    private readonly clock: Clock = systemClock,
  ) {}

  add(item: T, timeoutMs: number): void {
    if (this.stopped) return
    item.timeoutMs = timeoutMs
    item.deadline = this.clock.now() + timeoutMs
    if (!this.has(item)) {
      item.slot = this.pending.length
      this.pending.push(item)
    }

    if (item.deadline < this.armedAt) this.arm(item.deadline)
  }

  /** Progress: the timeout counts again from now. The timer is not touched: it re-checks when it fires. */
  refresh(item: T): void {
    if (this.has(item)) item.deadline = this.clock.now() + item.timeoutMs
  }

  delete(item: T): void {
    // The timer stays armed when the set empties: clearing and re-arming it for every event at
    // concurrency 1 would cost what this class saves. It fires once, finds nothing, and stops.
    if (!this.has(item)) return
    const last = this.pending.pop()!
    if (last !== item) {
      last.slot = item.slot
      this.pending[item.slot!] = last
    }

    item.slot = -1
  }

  private has(item: T): boolean {
    const slot = item.slot
    return slot !== undefined && slot >= 0 && this.pending[slot] === item
  }

  stop(): void {
    this.stopped = true
    for (const item of this.pending) item.slot = -1
    this.pending.length = 0
    this.clock.clearTimer(this.timer)
    this.timer = undefined
    this.armedAt = Number.POSITIVE_INFINITY
  }

  private arm(at: number): void {
    this.clock.clearTimer(this.timer)
    this.armedAt = at
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()))
  }

  private fire(): void {
    this.timer = undefined
    this.armedAt = Number.POSITIVE_INFINITY
    // Within a millisecond counts as due: timers may fire that much early in performance.now() terms.
    const now = this.clock.now() + 1
    const due: T[] = []
    let next = Number.POSITIVE_INFINITY
    for (const item of this.pending) {
      if (item.deadline <= now) due.push(item)
      else if (item.deadline < next) next = item.deadline
    }

    for (const item of due) {
      // An earlier expiry may have ended it already (a reset that took others with it).
      if (!this.has(item)) continue
      this.delete(item)
      this.expire(item)
    }

    if (!this.stopped && next < this.armedAt) this.arm(next)
  }
}
