// Redial delays for the nodes that dial out (tunnel, pipe): exponential from initialMs, capped at maxMs,
// with "equal jitter" (half fixed, half random) so that many nodes cut off at once do not all redial in
// the same instant; a connection that stayed up STABLE_CONNECTION_MS starts the sequence over.

export const DEFAULT_BACKOFF_INITIAL_MS = 500
export const DEFAULT_BACKOFF_MAX_MS = 30_000
/** A connection that stayed up this long resets the backoff. */
export const STABLE_CONNECTION_MS = 10_000

export interface BackoffOptions {
  initialMs?: number
  maxMs?: number
}

/** The delay before attempt `attempt + 1`, after `attempt` failed attempts (attempt >= 1). */
export function nextBackoffMs(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initialMs = options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
