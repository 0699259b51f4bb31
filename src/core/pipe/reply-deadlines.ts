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
}

export class ReplyDeadlines<T extends Deadline> {
  private readonly pending = new Set<T>()
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
    this.pending.add(item)
    if (item.deadline < this.armedAt) this.arm(item.deadline)
  }

  /** Progress: the timeout counts again from now. The timer is not touched: it re-checks when it fires. */
  refresh(item: T): void {
    if (this.pending.has(item)) item.deadline = this.clock.now() + item.timeoutMs
  }

  delete(item: T): void {
    // The timer stays armed when the set empties: clearing and re-arming it for every event at
    // concurrency 1 would cost what this class saves. It fires once, finds nothing, and stops.
    this.pending.delete(item)
  }

  stop(): void {
    this.stopped = true
    this.pending.clear()
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
      this.pending.delete(item)
      this.expire(item)
    }

    if (!this.stopped && next < this.armedAt) this.arm(next)
  }
}
