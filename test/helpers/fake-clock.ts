// A Clock the test moves by hand: timers run only inside advance(), in time order, so unit tests of
// the link layer need no sleeps.
import type {Clock} from '../../src/core/link/clock.js'

interface Timer {
  at: number
  seq: number
  callback: () => void
}

export class FakeClock implements Clock {
  private time = 0
  private seq = 0
  private readonly timers = new Set<Timer>()

  now(): number {
    return this.time
  }

  after(ms: number, callback: () => void): () => void {
    const timer = {at: this.time + ms, callback, seq: this.seq++}
    this.timers.add(timer)
    return () => this.timers.delete(timer)
  }

  /** Timers not yet run nor cancelled. */
  get pending(): number {
    return this.timers.size
  }

  /** Moves time on by ms, running each timer that falls due (and the promise callbacks it sets off) in order. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms
    for (;;) {
      await settle()
      const due = [...this.timers].filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (!due) break
      this.timers.delete(due)
      this.time = due.at
      due.callback()
    }

    this.time = end
    await settle()
  }
}

/** Lets pending promise callbacks run (one macrotask turn); not a wait for time. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
