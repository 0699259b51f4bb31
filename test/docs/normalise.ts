// What a doc example may differ in from a real run, and nothing else: fingerprints, times and dates,
// durations, UUIDs, node ids derived from keys, the home directory, temporary paths and the host name.
// Both sides go through the same rules, so a doc may show any real value (or the placeholder).
import type {ExpectedLine} from './doc-blocks.js'

export interface NormaliseContext {
  /** The run's HOME; the docs write it as /home/ada. */
  home: string
  /** This machine's host name and user name; the docs write `ada@laptop` (ssh-keygen's default comment). */
  hostname: string
  user: string
  /** The system temporary directory (paths under it that are not the home become <tmp>). */
  tmpdir: string
}

export const DOC_HOME = '/home/ada'

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

// Order matters: a whole ISO timestamp before its date, a fingerprint before the durations.
const RULES: Array<[RegExp, string]> = [
  // Colour and cursor sequences, should a command write them despite NO_COLOR.
  // eslint-disable-next-line no-control-regex
  [/\x1b\[[0-9;?]*[A-Za-z]/g, ''],
  [/SHA256:[A-Za-z0-9+/]{43}=?/g, 'SHA256:<fingerprint>'],
  [/\b(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\b/g, '<sha256-hex>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/\bnode-[A-Za-z0-9_-]{6,}/g, 'node-<id>'],
  // A client's ephemeral source port (Linux picks 32768-60999), as in a peer address 127.0.0.1:36066.
  [/\b((?:\d{1,3}\.){3}\d{1,3}|\]|localhost):(?:3[2-9]\d{3}|[45]\d{4}|60\d{3})\b/g, '$1:<ephemeral-port>'],
  [/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<time>'],
  [/\b\d{4}-\d{2}-\d{2}\b/g, '<date>'],
  [/(?<![:\w])\d{2}:\d{2}:\d{2}(?:\.\d+)?(?![:\w])/g, '<time>'],
  // JSON fields that hold a duration or a clock: "connectMs": 58.55, "time":0.1312, "time_from_server":1796288111.069
  [/("(?:\w*Ms|\w*_ms|time\w*|\w*_time|elapsed)"\s*:\s*)-?\d+(?:\.\d+)?(?:e-?\d+)?/g, '$1<n>'],
  // Durations in text: 58.55 ms, 3ms, 1.2s, 250 µs
  [/\b\d+(?:\.\d+)?\s?(?:ms|µs|us|ns)\b/g, '<duration>'],
  [/\b\d+\.\d+\s?s\b/g, '<duration>'],
]

/** One line as compared: rules applied, trailing blanks and the terminal's carriage returns dropped. */
export function normaliseLine(text: string, context?: NormaliseContext): string {
  let line = text.replace(/\r/g, '').replace(/\s+$/, '')
  if (context) {
    line = line.split(context.home).join(DOC_HOME)
    line = line.replace(new RegExp(`${escape(context.tmpdir)}/[\\w.-]+`, 'g'), '<tmp>')
    if (context.hostname) line = line.replace(new RegExp(`\\b(?:${escape(context.user)}|ada)@${escape(context.hostname)}\\b`, 'g'), 'ada@laptop')
  }
  for (const [pattern, replacement] of RULES) line = line.replace(pattern, replacement)
  return line
}

/**
 * `...` in a doc's expected line matches any text; a line that is only `...` matches any number of
 * lines. Anything else must be equal after normalising.
 */
function lineMatches(expected: string, actual: string): boolean {
  if (!expected.includes('...')) return expected === actual
  const pattern = expected.split('...').map(escape).join('.*')
  return new RegExp(`^${pattern}$`).test(actual)
}

export interface Mismatch {
  /** The doc line that does not match (the block's last line + 1 when output is missing). */
  line: number
  expected: string | undefined
  actual: string | undefined
}

/** Compares a command's output with the doc's lines; undefined when they match. */
export function compareOutput(expected: ExpectedLine[], output: string, context: NormaliseContext, endLine: number): Mismatch | undefined {
  const actual = output.replace(/\r/g, '').split('\n').map((line) => normaliseLine(line, context))
  while (actual.length > 0 && actual.at(-1) === '') actual.pop()
  const wanted = expected.map((entry) => ({line: entry.line, text: normaliseLine(entry.text)}))
  return match(wanted, 0, actual, 0, endLine)
}

function match(wanted: Array<{line: number; text: string}>, w: number, actual: string[], a: number, endLine: number): Mismatch | undefined {
  for (; w < wanted.length; w++, a++) {
    const entry = wanted[w]!
    if (entry.text.trim() === '...') {
      // Try every split; report the mismatch from the longest attempt.
      let best: Mismatch | undefined
      for (let skip = a; skip <= actual.length; skip++) {
        const result = match(wanted, w + 1, actual, skip, endLine)
        if (!result) return undefined
        best ??= result
      }
      return best
    }
    if (a >= actual.length) return {line: entry.line, expected: entry.text, actual: undefined}
    if (!lineMatches(entry.text, actual[a]!)) return {line: entry.line, expected: entry.text, actual: actual[a]}
  }
  if (a < actual.length) return {line: endLine, expected: undefined, actual: actual[a]}
  return undefined
}
