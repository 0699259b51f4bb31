// The authorized_keys options restwire enforces (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"):
//   from="pattern-list"       client address patterns: wildcards * and ?, CIDR, ! to exclude
//   expiry-time="timespec"    YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]; local time unless Z (UTC)
// Options about shells, commands, ptys and forwarding do not apply to korv channels and are ignored.
import {BlockList, isIP} from 'node:net'

export interface KeyOptionContext {
  /** The client's IP address as the socket reports it. */
  address?: string
  now?: Date
}

/** Returns why the key may not be used now, or undefined when its options allow it. */
export function keyOptionsRefusal(options: readonly string[], context: KeyOptionContext): string | undefined {
  for (const option of options) {
    const [name = '', value] = splitOption(option)
    if (name === 'from') {
      const address = context.address === undefined ? undefined : unmapIPv4(context.address)
      if (address === undefined || !matchesPatternList(address, value ?? '')) return `the key is limited to from="${value}", and the client is ${address ?? 'unknown'}`
    } else if (name === 'expiry-time') {
      const expires = parseExpiryTime(value ?? '')
      if (!expires) return `the key has an unreadable expiry-time="${value}"`
      if ((context.now ?? new Date()) >= expires) return `the key expired at ${expires.toISOString()}`
    }
  }

  return undefined
}

function splitOption(option: string): [string, string | undefined] {
  const equals = option.indexOf('=')
  if (equals === -1) return [option.toLowerCase(), undefined]
  const raw = option.slice(equals + 1)
  const value = raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1).replaceAll('\\"', '"') : raw
  return [option.slice(0, equals).toLowerCase(), value]
}

/** sshd's match_hostname on the address alone (UseDNS is off by default): a negated match wins. */
export function matchesPatternList(address: string, list: string): boolean {
  let matched = false
  for (const entry of list.split(',')) {
    const negated = entry.startsWith('!')
    const pattern = (negated ? entry.slice(1) : entry).trim().toLowerCase()
    if (pattern === '' || !matchesPattern(address, pattern)) continue
    if (negated) return false
    matched = true
  }

  return matched
}

function matchesPattern(address: string, pattern: string): boolean {
  const slash = pattern.indexOf('/')
  if (slash !== -1) {
    const network = pattern.slice(0, slash)
    const prefix = Number(pattern.slice(slash + 1))
    const family = isIP(network)
    if (family === 0 || !Number.isInteger(prefix) || family !== isIP(address)) return false
    const list = new BlockList()
    try {
      list.addSubnet(network, prefix, family === 4 ? 'ipv4' : 'ipv6')
    } catch {
      return false
    }

    return list.check(address, family === 4 ? 'ipv4' : 'ipv6')
  }

  const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`)
  return regex.test(address.toLowerCase())
}

/** `::ffff:127.0.0.1` (an IPv4 client on a dual-stack socket) is 127.0.0.1 to patterns. */
function unmapIPv4(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
}

export function parseExpiryTime(spec: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z)?$/i.exec(spec)
  if (!match) return undefined
  const [, year, month, day, hour = '0', minute = '0', second = '0', utc] = match
  const parts = [Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)] as const
  const date = utc ? new Date(Date.UTC(...parts)) : new Date(...parts)
  return Number.isNaN(date.getTime()) ? undefined : date
}
