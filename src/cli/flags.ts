// Shared flags, built once and validated as they are parsed.
import * as Flags from '@oclif/core/flags'
import type {OptionFlag} from '@oclif/core/interfaces'
import {type Address, type AddressSpec, type TcpAddress, addressForms, formatAddress, parseAddress} from '../core/address.js'
import {formatDuration} from '../core/duration.js'
import {RestwireError} from '../core/errors.js'
import {type PayloadSource, durationValue, payloadValue, persistValue, positiveIntValue} from './flag-values.js'

/** Options of one address flag: its role and grammar (core/address.ts), default and help. */
export interface AddressFlagOptions extends AddressSpec {
  description: string
  /** Written as the user would (`127.0.0.1:8022`); parsed once, shown as is in --help. */
  default?: string
  required?: boolean
  /** Old names kept for a while: they still work, with a warning naming the new one. */
  deprecatedAliases?: string[]
  helpGroup?: string
}

/**
 * `--listen` (where a server accepts) or `--to` (what a client dials), or `--http`: one grammar for all
 * (HOST:PORT, [IPv6]:PORT, PORT, and scheme or unix:/path where the spec allows), checked as parsed.
 * Every address flag has a default or is required, so its value is always set.
 */
export function addressFlag(options: AddressFlagOptions & {unix: true}): OptionFlag<Address>
export function addressFlag(options: AddressFlagOptions): OptionFlag<TcpAddress>
export function addressFlag(options: AddressFlagOptions): OptionFlag<Address> | OptionFlag<TcpAddress> {
  const {default: defaultText, deprecatedAliases, description, helpGroup, required, ...spec} = options
  const helpValue = spec.unix ? 'ADDRESS' : spec.schemes?.some((s) => s.startsWith('http')) ? 'URL' : 'HOST:PORT'
  const flag = Flags.custom<Address>({
    aliases: deprecatedAliases,
    default: defaultText === undefined ? undefined : parseAddress(defaultText, spec),
    defaultHelp: defaultText === undefined ? undefined : async () => defaultText,
    deprecateAliases: deprecatedAliases !== undefined,
    description: `${description} Takes ${addressForms(spec)}.`,
    helpGroup,
    helpValue,
    async parse(input, _context, flagOptions) {
      return parseAddress(input, spec, `--${flagOptions.name}`)
    },
    required,
  })
  return flag() as OptionFlag<Address>
}

/** `--metrics HOST:PORT` of the servers without an HTTP port of their own; off unless given (a bare PORT is loopback). */
export const metricsFlag = (): OptionFlag<TcpAddress | undefined> =>
  addressFlag({
    description: 'Serve GET /metrics (Prometheus text format), /healthz and /readyz on this address; off unless given (docs/metrics.md).',
    helpGroup: 'METRICS',
    role: 'listen',
  }) as OptionFlag<TcpAddress | undefined>

/**
 * A `--to` that takes several addresses (hubs or gateways that act as one): repeatable and
 * comma-separated (`--to a:7443,b:7443 --to c:7443`), each in the one grammar; parsed to a list.
 * Required, but checked by requireAddresses() after parsing: a named target (`to:`) may fill it.
 */
export function addressListFlag(options: Omit<AddressFlagOptions, 'default' | 'deprecatedAliases' | 'required' | 'unix'>): OptionFlag<TcpAddress[] | undefined> {
  const {description, helpGroup, ...spec} = options
  const flag = Flags.custom<TcpAddress>({
    delimiter: ',',
    description: `${description} Repeatable or comma-separated; each takes ${addressForms(spec)}.`,
    helpGroup,
    helpValue: 'HOST:PORT',
    multiple: true,
    multipleNonGreedy: true,
    async parse(input, _context, flagOptions) {
      return parseAddress(input, spec, `--${flagOptions.name}`) as TcpAddress
    },
  })
  return flag() as unknown as OptionFlag<TcpAddress[] | undefined>
}

/**
 * The addresses of an addressListFlag, without repeats (the same HOST:PORT written twice is dialled
 * once per round); none, from the flag or a target, is a usage error naming `what`.
 */
export function requireAddresses(list: readonly TcpAddress[] | undefined, what: string): TcpAddress[] {
  if (!list || list.length === 0) {
    throw new RestwireError('RW_ERR_USAGE', `--to is required: ${what}`, {hint: 'Pass --to HOST:PORT (repeatable, or comma-separated), or --target NAME for a target of config.yaml whose to: names them.'})
  }

  const seen = new Set<string>()
  return list.filter((address) => {
    const key = formatAddress(address)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** A duration: `30` or `30s` (seconds), `500ms`, `2m`, `1h`; parsed to milliseconds, shown as `30s`. */
const durationBase = Flags.custom<number>({
  async parse(input, _context, options) {
    return durationValue(input, options.name)
  },
})

/** `korv call --persist`: how long a kept connection waits for the next call (a duration > 0), or `stop`. */
export const persistFlag = Flags.custom<number | 'stop'>({
  async parse(input, _context, options) {
    return persistValue(input, options.name)
  },
})

/** Timeouts have no short flag: -t is the key type (keys gen/ca/cert, as in ssh-keygen). */
export const durationFlag = (options: {default: number; description: string}) =>
  durationBase({...options, defaultHelp: async () => formatDuration(options.default)})

export {formatDuration} from '../core/duration.js'

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

/** `--log-format text|json`: the servers' log on stderr. */
export const logFormatFlag = (description = 'Log format on stderr.') => Flags.option({default: 'text', description, options: ['text', 'json'] as const})()

export const positiveIntFlag = Flags.custom<number>({
  async parse(input, _context, options) {
    return positiveIntValue(input, options.name)
  },
})

export type {PayloadSource} from './flag-values.js'

export const dataFlag = Flags.custom<PayloadSource>({
  description: 'Request body: JSON text, @FILE to read a file, or @- to read stdin.',
  async parse(input) {
    return payloadValue(input)
  },
})
