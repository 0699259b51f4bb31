// Terminal rendering: JSON results on stdout (pretty on a terminal, coloured by the colour rules),
// logs and errors on stderr; the colour rules themselves (--color, NO_COLOR).
import {writeSync} from 'node:fs'
import {isatty} from 'node:tty'
import chalk, {chalkStderr} from 'chalk'
import type {RestwireError} from '../core/errors.js'
import {stringifyJson} from '../core/json.js'
import {COLOR_MODES, type ColorMode} from './flag-values.js'

// Whether fd 1 or 2 is a terminal, asked of the descriptor: reading process.stdout.isTTY makes the
// stream (for a pipe a net.Socket, set non-blocking), which `korv call`'s fast paths need not make.
export const stdoutIsTty = (): boolean => isatty(1)

export {COLOR_MODES, type ColorMode} from './flag-values.js'

type ColorLevel = 0 | 1 | 2 | 3

/**
 * Sets the colour of stdout and stderr: `--color always|never` wins; under `auto`, a non-empty NO_COLOR
 * (or FORCE_COLOR=0) turns colour off, else each stream is coloured when it is a terminal.
 * Chalk's own detection is overridden because it reads `--color` from argv (so `--color never` would
 * force colour) and ignores NO_COLOR.
 */
export function configureColor(mode: ColorMode = 'auto'): void {
  chalk.level = colorLevel(mode, 1)
  chalkStderr.level = colorLevel(mode, 2)
  // @inquirer/prompts, loaded later, colours through Node's hasColors(), which reads NO_COLOR.
  if (mode === 'never') process.env.NO_COLOR = '1'
}

/** The --color value in raw arguments (for errors raised before the flags are parsed). */
export function colorModeInArgv(argv: readonly string[]): ColorMode {
  for (let i = argv.length - 1; i >= 0; i--) {
    const value = argv[i] === '--color' ? argv[i + 1] : argv[i].startsWith('--color=') ? argv[i].slice('--color='.length) : undefined
    if (value !== undefined && (COLOR_MODES as readonly string[]).includes(value)) return value as ColorMode
  }

  return 'auto'
}

function colorLevel(mode: ColorMode, fd: 1 | 2): ColorLevel {
  if (mode === 'never') return 0
  const depth = terminalDepth()
  if (mode === 'always') return depth
  const {FORCE_COLOR, NO_COLOR, TERM} = process.env
  // FORCE_COLOR=0 is chalk's "off"; a FORCE_COLOR that turns colour on is not read, since CI systems set it
  // globally and piped JSON must stay parseable: colour when piped is asked for with --color always.
  if (NO_COLOR || FORCE_COLOR === '0' || FORCE_COLOR === 'false') return 0
  return isatty(fd) && TERM !== 'dumb' ? depth : 0
}

function terminalDepth(): 1 | 2 | 3 {
  const {COLORTERM, TERM = ''} = process.env
  if (COLORTERM === 'truecolor' || COLORTERM === '24bit') return 3
  return /256/.test(TERM) ? 2 : 1
}

configureColor()

/** Pretty JSON on a terminal, compact (one line) when piped; coloured when stdout's colour is on. */
export function formatJson(value: unknown, tty = stdoutIsTty()): string {
  // A peer's answer may be nested too deeply to write (a 100,000-deep body parses, JSON.stringify
  // overflows): RW_ERR_JSON, not an internal error.
  const text = value === undefined ? 'null' : stringifyJson(value, 'the output', tty ? 2 : undefined)
  if (chalk.level === 0) return text
  return text.replace(
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
  writeOutput(1, text.endsWith('\n') ? text : text + '\n')
}

export function writeStderr(text: string): void {
  writeOutput(2, text)
}

/** What bin/run.js tells of process.stdout and process.stderr under `korv call`: whether either was made. */
interface StdioWatch {
  made(fd: 1 | 2): boolean
}

/**
 * Writes to stdout or stderr. Under `korv call` (bin/run.js watches whether process.stdout and
 * process.stderr were made), a stream that nobody made yet and that is not a terminal is not made for
 * this: the text goes to the descriptor in synchronous writes (what the stream does on a pipe or file
 * that takes it), which spares a fast path the stream and its non-blocking pipe. Anywhere else, or once
 * the stream exists (its writes stay in order), the stream takes it.
 */
function writeOutput(fd: 1 | 2, text: string): void {
  const watch = (globalThis as Record<symbol, StdioWatch | undefined>)[Symbol.for('restwire.stdio')]
  const stream = (): NodeJS.WriteStream => (fd === 1 ? process.stdout : process.stderr)
  if (!watch || watch.made(fd) || isatty(fd)) {
    stream().write(text)
    return
  }

  writeWhole(fd, text, stream)
}

/**
 * Writes `text` to `fd` with synchronous writes until it is all written; what a write refuses (EAGAIN on
 * a non-blocking descriptor that is full, or an error such as EPIPE) goes to the stream with the rest,
 * which waits for the descriptor or reports the error as it always did.
 */
export function writeWhole(fd: number, text: string, stream: () => NodeJS.WritableStream): void {
  const bytes = Buffer.from(text)
  let written = 0
  try {
    while (written < bytes.length) written += writeSync(fd, bytes, written)
  } catch {
    stream().write(bytes.subarray(written))
  }
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
