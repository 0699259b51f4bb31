// A Clock that moves only when told (advance), for engines whose timers must be tested without waiting.
import type {Clock, ClockTimer} from '../../src/core/pipe/clock.js'

class FakeTimer implements ClockTimer {
  at: number
  cleared = false

  constructor(
    private readonly clock: FakeClock,
    readonly callback: () => void,
    readonly ms: number,
    readonly repeat: boolean,
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
  private readonly timers = new Set<FakeTimer>()

  now(): number {
    return this.time
  }

  setTimeout(callback: () => void, ms: number): ClockTimer {
    return this.arm(new FakeTimer(this, callback, ms, false))
  }

  setInterval(callback: () => void, ms: number): ClockTimer {
    return this.arm(new FakeTimer(this, callback, ms, true))
  }

  clearTimer(timer: ClockTimer | undefined): void {
    if (!(timer instanceof FakeTimer)) return
    timer.cleared = true
    this.timers.delete(timer)
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
    for (;;) {
      let next: FakeTimer | undefined
      for (const timer of this.timers) if (timer.at <= end && (!next || timer.at < next.at)) next = timer
      if (!next) break
      this.time = Math.max(this.time, next.at)
      if (next.repeat) next.at += next.ms
      else this.timers.delete(next)
      next.callback()
    }

    this.time = end
  }
}
