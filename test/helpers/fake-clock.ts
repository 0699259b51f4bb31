// A Clock that moves only when told, for the link layer and the pipe engines, whose timers must be
// tested without waiting. advance(): synchronous, fires each due timer in time order at its own time.
// tick(): the same, letting pending promise callbacks run before each timer (for async code under test).
import type {Clock, ClockTimer} from '../../src/core/link/clock.js'

class FakeTimer implements ClockTimer {
  at: number
  cleared = false

  constructor(
    private readonly clock: FakeClock,
    readonly callback: () => void,
    readonly ms: number,
    readonly repeat: boolean,
    readonly seq: number,
  ) {
    this.at = clock.now() + ms
  }

  // As Node's: counts again from now, and re-arms a timeout that has fired (not one that was cleared).
  refresh(): this {
    if (!this.cleared) {
      this.at = this.clock.now() + this.ms
      this.clock.arm(this)
    }

    return this
  }
}

export class FakeClock implements Clock {
  private time = 0
  private seq = 0
  private readonly timers = new Set<FakeTimer>()

  now(): number {
    return this.time
  }

  setTimeout(callback: () => void, ms: number): ClockTimer {
    return this.arm(new FakeTimer(this, callback, ms, false, this.seq++))
  }

  setInterval(callback: () => void, ms: number): ClockTimer {
    return this.arm(new FakeTimer(this, callback, ms, true, this.seq++))
  }

  clearTimer(timer: ClockTimer | undefined): void {
    if (!(timer instanceof FakeTimer)) return
    timer.cleared = true
    this.timers.delete(timer)
  }

  after(ms: number, callback: () => void): () => void {
    const timer = this.setTimeout(callback, ms)
    return () => this.clearTimer(timer)
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.timers.size
  }

  arm(timer: FakeTimer): FakeTimer {
    this.timers.add(timer)
    return timer
  }

  /** Moves time on by ms, firing each timer due on the way, in time order, at its own time. */
  advance(ms: number): void {
    const end = this.time + ms
    while (this.fireNext(end));
    this.time = end
  }

  /** Moves time on by ms without firing anything, as a blocked event loop does; the next advance() fires the overdue timers late. */
  stall(ms: number): void {
    this.time += ms
  }

  /** advance(), for async code: pending promise callbacks run before each timer and at the end. */
  async tick(ms: number): Promise<void> {
    const end = this.time + ms
    do await settle()
    while (this.fireNext(end))
    this.time = end
    await settle()
  }

  private fireNext(end: number): boolean {
    let next: FakeTimer | undefined
    for (const timer of this.timers) if (timer.at <= end && (!next || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))) next = timer
    if (!next) return false
    this.time = Math.max(this.time, next.at)
    if (next.repeat) next.at += next.ms
    else this.timers.delete(next)
    next.callback()
    return true
  }
}

/** Lets pending promise callbacks run (one macrotask turn); not a wait for time. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
