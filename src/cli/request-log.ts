// One stderr line per served request, as text or JSON (--log-format).
import type {KorvRequestLog} from '../core/korv/channel-session.js'
import {stderrColors as c} from './output.js'

export type LogFormat = 'text' | 'json'

// C0 controls, DEL and C1 controls: a peer-controlled path or name holding CR/LF or an escape
// sequence must not forge log lines or drive the terminal.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g

/** Text for a text log line: control characters become `\xNN` (the JSON log escapes by itself). */
export function escapeControl(text: string): string {
  // Most names, paths and ids hold none: a scan is cheaper than the regular expression's replace.
  let clean = true
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      clean = false
      break
    }
  }

  if (clean) return text
  return text.replace(CONTROL, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

export function writeRequestLog(entry: KorvRequestLog, format: LogFormat): void {
  const time = new Date().toISOString()
  const durationMs = Math.round(entry.durationMs * 100) / 100
  if (format === 'json') {
    process.stderr.write(JSON.stringify({time, ...entry, durationMs}) + '\n')
    return
  }

  const code = entry.code >= 500 ? c.red(String(entry.code)) : entry.code >= 400 ? c.yellow(String(entry.code)) : c.green(String(entry.code))
  process.stderr.write(`${c.dim(time)} ${escapeControl(entry.verb)} ${escapeControl(entry.path)} ${code} ${durationMs}ms ${entry.fingerprint ?? '-'} ${entry.address ?? '-'}\n`)
}

/** A server-side event (auth rejected, protocol error) as one stderr line. */
export function writeEventLog(fields: Record<string, unknown>, format: LogFormat): void {
  process.stderr.write(formatEventLog(fields, format))
}

/** The line writeEventLog writes, newline included (for a batched log). */
export function formatEventLog(fields: Record<string, unknown>, format: LogFormat): string {
  const time = new Date().toISOString()
  if (format === 'json') return JSON.stringify({time, ...fields}) + '\n'
  const {event, ...rest} = fields
  const text = [escapeControl(String(event)), ...Object.entries(rest)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${escapeControl(typeof value === 'string' ? value : String(JSON.stringify(value)))}`)].join(' ')
  return `${c.dim(time)} ${c.yellow(text)}\n`
}
