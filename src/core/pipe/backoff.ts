// Redial delays: exponential from initialMs, capped at maxMs, with "equal jitter" (half fixed, half
// random) so that many nodes cut off at once do not all redial in the same instant.

export interface BackoffOptions {
  initialMs: number
  maxMs: number
}

/** The delay before attempt `attempt + 1`, after `attempt` failed attempts (attempt >= 1). */
export function nextBackoffMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
