// Shared flags, built once and validated as they are parsed.
import * as Flags from '@oclif/core/flags'
import {RestwireError} from '../core/errors.js'

export const portFlag = Flags.custom<number>({
  description: 'TCP port.',
  async parse(input) {
    const port = Number(input)
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new RestwireError('RW_ERR_USAGE', `--port must be 0-65535, got "${input}"`)
    return port
  },
})

export const hostFlag = Flags.custom<string>({
  description: 'Host name or IP address.',
  async parse(input) {
    if (!input || /\s/.test(input)) throw new RestwireError('RW_ERR_USAGE', `--host must be a host name or address, got "${input}"`)
    return input
  },
})

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/
const UNIT_MS: Record<string, number> = {h: 3_600_000, m: 60_000, ms: 1, s: 1000}

/** A duration: `30` or `30s` (seconds), `500ms`, `2m`, `1h`; parsed to milliseconds, shown as `30s`. */
const durationBase = Flags.custom<number>({
  async parse(input, _context, options) {
    const match = DURATION.exec(input.trim())
    if (!match) throw new RestwireError('RW_ERR_USAGE', `--${options.name} takes a duration like 30s, 500ms or 2m, got "${input}"`)
    return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 's']!)
  },
})

export const durationFlag = (options: {default: number; description: string; char?: 't'}) =>
  durationBase({...options, defaultHelp: async () => formatDuration(options.default)})

export function formatDuration(ms: number): string {
  if (ms === 0) return '0'
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}

const SIZE = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i
const SIZE_UNIT: Record<string, number> = {b: 1, g: 2 ** 30, gb: 1e9, gib: 2 ** 30, k: 1024, kb: 1000, kib: 1024, m: 2 ** 20, mb: 1e6, mib: 2 ** 20}

/** A byte size: `16MiB`, `64k`, `1048576`. */
const sizeBase = Flags.custom<number>({
  async parse(input, _context, options) {
    const match = SIZE.exec(input.trim())
    if (!match || Number(match[1]) <= 0) throw new RestwireError('RW_ERR_USAGE', `--${options.name} takes a size like 16MiB or 65536, got "${input}"`)
    return Number(match[1]) * SIZE_UNIT[(match[2] ?? 'b').toLowerCase()]!
  },
})

export const sizeFlag = (options: {default: number; description: string}) =>
  sizeBase({...options, defaultHelp: async () => formatSize(options.default)})

function formatSize(bytes: number): string {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 1024]] as const) if (bytes % size === 0) return `${bytes / size}${unit}`
  return String(bytes)
}

export const positiveIntFlag = Flags.custom<number>({
  async parse(input, _context, options) {
    const value = Number(input)
    if (!Number.isInteger(value) || value < 1) throw new RestwireError('RW_ERR_USAGE', `--${options.name} must be a positive integer, got "${input}"`)
    return value
  },
})

/** Where a request body comes from: inline JSON, a file (`@path`) or stdin (`@-`). */
export type PayloadSource = {kind: 'inline'; value: unknown} | {kind: 'file'; path: string} | {kind: 'stdin'}

export const dataFlag = Flags.custom<PayloadSource>({
  description: 'Request body: JSON text, @FILE to read a file, or @- to read stdin.',
  async parse(input) {
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
  },
})
