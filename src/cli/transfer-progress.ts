// A progress line for long transfers, on stderr: bytes and rate, plus a bar, percentage and ETA when the
// size is known. Drawn only when stderr is a terminal, at most 10 times a second, erased at the end.
import {Transform} from 'node:stream'
import {stderrColors as c} from './output.js'

/** A transfer that ends this fast never shows a line (no flicker for small bodies). */
const SHOW_AFTER_MS = 500
/** ≤ 10 redraws a second. */
const REDRAW_MS = 100
const BAR_WIDTH = 24

export interface TransferProgress {
  add(bytes: number): void
  /** Stops drawing and erases the line; safe to call twice. */
  done(): void
}

const NO_PROGRESS: TransferProgress = {add() {}, done() {}}

/** `label` says what moves ("↓ q3.pdf", "↑ body.bin"); `totalBytes` when known. */
export function startTransferProgress(label: string, totalBytes?: number, stream: NodeJS.WriteStream = process.stderr): TransferProgress {
  if (!stream.isTTY) return NO_PROGRESS
  const started = performance.now()
  let bytes = 0
  let drawn = false
  const timer = setInterval(() => {
    const elapsedMs = performance.now() - started
    if (elapsedMs < SHOW_AFTER_MS) return
    drawn = true
    stream.write(`\r${progressLine(label, bytes, totalBytes, elapsedMs, stream.columns || 80)}\u001B[K`)
  }, REDRAW_MS)
  // A transfer that stalls must not keep the process alive on our account.
  timer.unref()
  let finished = false
  return {
    add(count) {
      bytes += count
    },
    done() {
      if (finished) return
      finished = true
      clearInterval(timer)
      if (drawn) stream.write('\r\u001B[K')
    },
  }
}

/** One line, at most `columns` wide: the bar is dropped first, then the ETA, when the terminal is narrow. */
export function progressLine(label: string, bytes: number, totalBytes: number | undefined, elapsedMs: number, columns: number): string {
  const rate = elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0
  const known = totalBytes !== undefined && totalBytes > 0
  const fraction = known ? Math.min(1, bytes / totalBytes) : 0
  const amount = known ? `${formatBytes(bytes)} / ${formatBytes(totalBytes)} ${String(Math.floor(fraction * 100)).padStart(3)}%` : formatBytes(bytes)
  const eta = known && rate > 0 ? `ETA ${formatDuration((totalBytes - Math.min(bytes, totalBytes)) / rate)}` : ''
  const plain = [label, amount, `${formatBytes(rate)}/s`, eta].filter(Boolean)
  const bar = known ? `[${'='.repeat(Math.round(fraction * BAR_WIDTH)).padEnd(BAR_WIDTH)}]` : ''
  const withBar = bar ? [plain[0], bar, ...plain.slice(1)].join(' ') : plain.join(' ')
  const line = withBar.length < columns ? withBar : plain.join(' ').length < columns ? plain.join(' ') : plain.slice(0, 3).join(' ')
  return c.dim(line.slice(0, Math.max(0, columns - 1)))
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }

  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}

function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** A pass-through stream that reports each chunk (counting bytes, remembering the last one). */
export function tapBytes(onChunk: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onChunk(chunk)
      callback(null, chunk)
    },
  })
}
