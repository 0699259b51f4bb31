// What the value flags of the client commands parse their text to, without oclif: the flags of
// cli/flags.ts call these, and so does the persisted `korv call` fast path (cli/korv-call-argv.ts), so
// that both read the same text as the same value.
import {DURATION_FORMS, parseDuration} from '../core/duration.js'
import {RestwireError} from '../core/errors.js'

/** Where a request body comes from: inline JSON, a file (`@path`) or stdin (`@-`). */
export type PayloadSource = {kind: 'inline'; value: unknown} | {kind: 'file'; path: string} | {kind: 'stdin'}

/** `--color`: auto (on a terminal, unless NO_COLOR is set), always or never (cli/output.ts applies it). */
export const COLOR_MODES = ['auto', 'always', 'never'] as const
export type ColorMode = (typeof COLOR_MODES)[number]

/** A duration flag (0 allowed): milliseconds. */
export function durationValue(input: string, name: string): number {
  const ms = parseDuration(input, {allowZero: true})
  if (ms === undefined) throw new RestwireError('RW_ERR_USAGE', `--${name} takes a duration (${DURATION_FORMS}), got "${input}"`)
  return ms
}

/** `--persist`: a duration > 0, or `stop`. */
export function persistValue(input: string, name: string): number | 'stop' {
  if (input === 'stop') return 'stop'
  const ms = parseDuration(input)
  if (ms === undefined) throw new RestwireError('RW_ERR_USAGE', `--${name} takes a duration (${DURATION_FORMS}) or "stop", got "${input}"`)
  return ms
}

export function positiveIntValue(input: string, name: string): number {
  const value = Number(input)
  if (!Number.isInteger(value) || value < 1) throw new RestwireError('RW_ERR_USAGE', `--${name} must be a positive integer, got "${input}"`)
  return value
}

/** `--data`: JSON text, @FILE or @- (stdin). */
export function payloadValue(input: string): PayloadSource {
  if (input === '@-') return {kind: 'stdin'}
  if (input.startsWith('@')) return {kind: 'file', path: input.slice(1)}
  try {
    return {kind: 'inline', value: JSON.parse(input)}
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `--data is not valid JSON: ${(error as Error).message}`, {
      cause: error,
      hint: 'Quote JSON for the shell, e.g. --data \'{"name":"x"}\', or use --data @file.json.',
    })
  }
}
