// Progress for long waits: on a terminal, a stderr line that counts the seconds after the first one.
import {isatty} from 'node:tty'
import {stderrColors as c} from './output.js'

const SHOW_AFTER_MS = 1000

/** Resolves like `work`; meanwhile, if stderr is a terminal and it takes over a second, says so. */
export async function withProgress<T>(message: string, work: Promise<T>): Promise<T> {
  // The descriptor, not process.stderr.isTTY: that would make the stream (output.ts, writeOutput).
  if (!isatty(2)) return work
  const started = Date.now()
  let shown = false
  const show = (): void => {
    shown = true
    process.stderr.write(`\r${c.dim(`${message} (${Math.round((Date.now() - started) / 1000)} s)`)}`)
  }

  let ticker: NodeJS.Timeout | undefined
  const first = setTimeout(() => {
    show()
    ticker = setInterval(show, 1000)
  }, SHOW_AFTER_MS)
  try {
    return await work
  } finally {
    clearTimeout(first)
    clearInterval(ticker)
    if (shown) process.stderr.write('\r\u001B[K')
  }
}
