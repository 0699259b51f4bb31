// One stderr line per served request, as text or JSON (--log-format).
import type {KorvRequestLog} from '../core/korv/channel-session.js'
import {stderrColors as c} from './output.js'

export type LogFormat = 'text' | 'json'

export function writeRequestLog(entry: KorvRequestLog, format: LogFormat): void {
  const time = new Date().toISOString()
  const durationMs = Math.round(entry.durationMs * 100) / 100
  if (format === 'json') {
    process.stderr.write(JSON.stringify({time, ...entry, durationMs}) + '\n')
    return
  }

  const code = entry.code >= 500 ? c.red(String(entry.code)) : entry.code >= 400 ? c.yellow(String(entry.code)) : c.green(String(entry.code))
  process.stderr.write(`${c.dim(time)} ${entry.verb} ${entry.path} ${code} ${durationMs}ms ${entry.fingerprint ?? '-'} ${entry.address ?? '-'}\n`)
}

/** A server-side event (auth rejected, protocol error) as one stderr line. */
export function writeEventLog(fields: Record<string, unknown>, format: LogFormat): void {
  const time = new Date().toISOString()
  if (format === 'json') {
    process.stderr.write(JSON.stringify({time, ...fields}) + '\n')
    return
  }

  const {event, ...rest} = fields
  const text = [String(event), ...Object.entries(rest)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)].join(' ')
  process.stderr.write(`${c.dim(time)} ${c.yellow(text)}\n`)
}
