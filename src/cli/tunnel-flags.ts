// Flags shared by the tunnel commands, validated as they are parsed.
import * as Flags from '@oclif/core/flags'
import {RestwireError} from '../core/errors.js'

export const DEFAULT_GATEWAY_API_URL = 'http://127.0.0.1:8080'

/** `HOST:PORT` (`[::1]:8022` for IPv6). */
export const gatewayAddressFlag = Flags.custom<{host: string; port: number}>({
  async parse(input, _context, options) {
    const match = /^(?:\[([^\]]+)\]|([^:\s[\]]+)):(\d+)$/.exec(input.trim())
    const port = Number(match?.[3])
    if (!match || port < 1 || port > 65_535) throw new RestwireError('RW_ERR_USAGE', `--${options.name} takes HOST:PORT, e.g. 127.0.0.1:8022, got "${input}"`)
    return {host: match[1] ?? match[2]!, port}
  },
})

/** The gateway's local HTTP API, an http:// URL. */
export const gatewayUrlFlag = Flags.custom<string>({
  default: DEFAULT_GATEWAY_API_URL,
  description: "The gateway's local HTTP API.",
  async parse(input, _context, options) {
    let url: URL
    try {
      url = new URL(input)
    } catch (error) {
      throw new RestwireError('RW_ERR_USAGE', `--${options.name} is not a URL: "${input}"`, {cause: error})
    }

    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RestwireError('RW_ERR_USAGE', `--${options.name} must be an http:// URL, got "${input}"`)
    return url.origin + url.pathname.replace(/\/+$/, '')
  },
})
