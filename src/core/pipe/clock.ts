// The time source of the pipe engines: heartbeats, the silence timeout and reply deadlines run on it, so
// that tests drive them with a fake clock instead of waiting. The system clock is the default.

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
}

export const systemClock: Clock = {
  // Node's clearTimeout cancels intervals too.
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
  now: () => performance.now(),
  setInterval: (callback, ms) => setInterval(callback, ms),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
}
