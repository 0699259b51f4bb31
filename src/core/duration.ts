// The one duration grammar of flags and config files: `500ms`, `30s`, `2m`, `1h`, or a bare number of
// seconds (`30`, `0.5`). Parsed to whole milliseconds.

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/
const UNIT_MS: Readonly<Record<string, number>> = {h: 3_600_000, m: 60_000, ms: 1, s: 1000}

/** The longest delay a Node.js timer takes (about 24.8 days); a longer one would fire at once. */
export const MAX_DURATION_MS = 2_147_483_647

/** The one default time allowed for a response, on every call command (korv, tunnel and pipe call, relay send). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

/** What a usage or config error says a duration looks like. */
export const DURATION_FORMS = '500ms, 30s, 2m, 1h, or a number of seconds'

export interface ParseDurationOptions {
  /** `0` is accepted (a flag where 0 means "never"); config durations must be more than 0. */
  allowZero?: boolean
}

/** Milliseconds, or undefined when `raw` is not a duration (or is 0 without allowZero, or too long). */
export function parseDuration(raw: unknown, options: ParseDurationOptions = {}): number | undefined {
  let ms = Number.NaN
  if (typeof raw === 'number') ms = raw * 1000
  else if (typeof raw === 'string') {
    const match = DURATION.exec(raw.trim())
    if (match) ms = Number(match[1]) * UNIT_MS[match[2] ?? 's']!
  }

  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_DURATION_MS) return undefined
  const rounded = Math.round(ms)
  return rounded === 0 && !options.allowZero ? undefined : rounded
}

/** `30s`, `2m`, `500ms`: the largest unit that divides the value. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0'
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}
