// The one time source of the link layer and the pipe engines: redial delays, handshake and wait
// deadlines, bounded destroys, heartbeats, the silence timeout and reply deadlines. A parameter so that
// unit tests drive it by hand (test/helpers/fake-clock.ts) instead of sleeping; the system clock is the default.

/** A timer the clock made; refresh() restarts its countdown from now (Node's Timeout has it). */
export interface ClockTimer {
  refresh(): unknown
}

export interface Clock {
  /** Milliseconds, monotonic (performance.now() for the system clock). */
  now(): number
  setTimeout(callback: () => void, ms: number): ClockTimer
  setInterval(callback: () => void, ms: number): ClockTimer
  /** Cancels a timer from either setTimeout or setInterval; undefined is ignored. */
  clearTimer(timer: ClockTimer | undefined): void
  /** Calls `callback` once after `ms`; returns the cancel. `unref`: the timer alone does not keep the process up. */
  after(ms: number, callback: () => void, options?: {unref?: boolean}): () => void
}

export const systemClock: Clock = {
  after(ms, callback, options) {
    const timer = setTimeout(callback, ms)
    if (options?.unref) timer.unref()
    return () => clearTimeout(timer)
  },
  // Node's clearTimeout cancels intervals too.
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
  now: () => performance.now(),
  setInterval: (callback, ms) => setInterval(callback, ms),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
}
