// Terminal rendering: JSON results on stdout (coloured only on a terminal), logs and errors on stderr.
import chalk, {chalkStderr} from 'chalk'
import type {RestwireError} from '../core/errors.js'

export const stdoutIsTty = (): boolean => Boolean(process.stdout.isTTY)

/** Pretty, coloured JSON on a terminal; compact JSON (one line) when piped. */
export function formatJson(value: unknown, tty = stdoutIsTty()): string {
  if (!tty || chalk.level === 0) return JSON.stringify(value) ?? 'null'
  const pretty = JSON.stringify(value, null, 2) ?? 'null'
  return pretty.replace(
    /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g,
    (match, str: string | undefined, colon: string | undefined, literal: string | undefined, num: string | undefined) => {
      if (str !== undefined) return colon ? chalk.blue(str) + colon : chalk.green(str)
      if (literal !== undefined) return chalk.magenta(literal)
      if (num !== undefined) return chalk.yellow(num)
      return match
    },
  )
}

export function writeStdout(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n')
}

export function renderError(error: RestwireError, verbose: boolean): string {
  const lines = [`${chalkStderr.red.bold('Error:')} ${error.message}`]
  if (error.hint) lines.push(`${chalkStderr.dim('Hint:')} ${error.hint}`)
  if (verbose) {
    let cause = error.cause as (Error & {code?: string}) | undefined
    while (cause) {
      lines.push(chalkStderr.dim(`  caused by: ${cause.code ? `[${cause.code}] ` : ''}${cause.message ?? String(cause)}`))
      cause = cause.cause as (Error & {code?: string}) | undefined
    }
  }

  lines.push(chalkStderr.dim(`  (${error.code}, exit ${error.exitCode})`))
  return lines.join('\n') + '\n'
}

export const stderrColors = chalkStderr
