// Flags shared by the relay commands: socket addresses, the UNIX socket mode and request params.
import * as Flags from '@oclif/core/flags'
import {RestwireError} from '../core/errors.js'
import {type RelayAddress, parseRelayAddress} from '../core/relay/address.js'

/** `tcp://HOST:PORT` or `unix:/path`. */
export const relayAddressFlag = Flags.custom<RelayAddress>({
  async parse(input, _context, options) {
    return parseRelayAddress(input, options.name)
  },
})

/** An octal file mode such as 0600 or 660. */
export const socketModeFlag = Flags.custom<number>({
  async parse(input, _context, options) {
    if (!/^0?[0-7]{3}$/.test(input.trim())) throw new RestwireError('RW_ERR_USAGE', `--${options.name} takes an octal mode like 0600 or 0660, got "${input}"`)
    return Number.parseInt(input.trim(), 8)
  },
})

/** One `--params` value: `key=value`, or `@file` holding a JSON object. */
export type ParamsSource = {kind: 'pair'; key: string; value: string} | {kind: 'file'; path: string}

export const paramsFlag = Flags.custom<ParamsSource>({
  description: 'Placeholder values: KEY=VALUE (repeatable), or @FILE with a JSON object.',
  multiple: true,
  multipleNonGreedy: true,
  async parse(input, _context, options) {
    if (input.startsWith('@') && input.length > 1) return {kind: 'file', path: input.slice(1)}
    const equals = input.indexOf('=')
    if (equals < 1) throw new RestwireError('RW_ERR_USAGE', `--${options.name} takes KEY=VALUE or @FILE, got "${input}"`)
    return {key: input.slice(0, equals), kind: 'pair', value: input.slice(equals + 1)}
  },
})
