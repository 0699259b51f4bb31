// The time source of the link layer: redial delays, handshake and wait deadlines, bounded destroys.
// A parameter so that unit tests drive it by hand (test/helpers/fake-clock.ts) instead of sleeping.

export interface Clock {
  now(): number
  /** Calls `callback` once after `ms`; returns the cancel. `unref`: the timer alone does not keep the process up. */
  after(ms: number, callback: () => void, options?: {unref?: boolean}): () => void
}

export const systemClock: Clock = {
  after(ms, callback, options) {
    const timer = setTimeout(callback, ms)
    if (options?.unref) timer.unref()
    return () => clearTimeout(timer)
  },
  now: () => Date.now(),
}
