// Names in TLS identities: the identity NAME (a file name and a DNS name at once) and subject alternative names.
import {isIP} from 'node:net'
import {RestwireError} from '../errors.js'

export interface SubjectAltName {
  type: 'dns' | 'ip'
  value: string
}

// The common name has an upper bound of 64 characters (RFC 5280, ub-common-name).
const MAX_NAME_LENGTH = 64
const MAX_DNS_NAME_LENGTH = 253
const FILE_SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/
// Underscores are not valid in host names, but they are common in internal names and TLS peers accept them.
const DNS_LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/

/**
 * Checks an identity name: it names the files NAME.pem and NAME-key.pem, is the certificate's common name
 * and its first subject alternative name, so it must be a safe file name and a DNS name (or IPv4 address).
 */
export function assertTlsIdentityName(name: string): void {
  const usage = (reason: string): RestwireError =>
    new RestwireError('RW_ERR_USAGE', `--name "${name}": ${reason}`, {details: {name}})
  if (name.length === 0) throw usage('the name is empty')
  if (name.length > MAX_NAME_LENGTH) throw usage(`at most ${MAX_NAME_LENGTH} characters`)
  if (!FILE_SAFE_NAME.test(name)) {
    throw usage("use letters, digits, '.', '-' and '_' only, not starting with '.' (the name is also a file name)")
  }

  if (name === 'ca' || name.endsWith('-key')) {
    throw usage("'ca' and names ending in '-key' are taken by the CA's files and the key files")
  }

  if (isIP(name) === 0 && !isDnsName(name)) throw usage('not a valid DNS name (empty label, or a label starting or ending with \'-\')')
}

/** The SAN an identity name stands for: an iPAddress for an IPv4 address, else a dNSName. */
export function identityNameSan(name: string): SubjectAltName {
  return isIP(name) === 0 ? {type: 'dns', value: name} : {type: 'ip', value: name}
}

/**
 * Parses a --san value: an IPv4 or IPv6 address (also `[::1]`) becomes an iPAddress, anything else must be
 * a DNS name, optionally with a leading `*.` wildcard label.
 */
export function parseSubjectAltName(input: string): SubjectAltName {
  const text = input.trim()
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
  if (isIP(unbracketed) === 4) return {type: 'ip', value: unbracketed}
  if (isIP(unbracketed) === 6) {
    if (unbracketed.includes('%')) {
      throw new RestwireError('RW_ERR_USAGE', `--san "${input}": an IPv6 zone (%...) cannot be in a certificate`, {details: {san: input}})
    }

    return {type: 'ip', value: ipv6WithoutDottedQuad(unbracketed.toLowerCase())}
  }

  const host = text.startsWith('*.') ? text.slice(2) : text
  if (!isDnsName(host) || text.length > MAX_DNS_NAME_LENGTH) {
    throw new RestwireError(
      'RW_ERR_USAGE',
      `--san "${input}" is neither an IP address nor a DNS name (letters, digits, '-' and '_' in dot-separated labels)`,
      {details: {san: input}},
    )
  }

  return {type: 'dns', value: text}
}

/** Removes repeated names (DNS names compare case-insensitively), keeping the first of each. */
export function uniqueSubjectAltNames(names: readonly SubjectAltName[]): SubjectAltName[] {
  const seen = new Set<string>()
  return names.filter((san) => {
    const key = `${san.type}:${san.value.toLowerCase()}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** `DNS:hub`, `IP:127.0.0.1`: the prefixes openssl prints. */
export function formatSubjectAltName(san: SubjectAltName): string {
  return `${san.type === 'dns' ? 'DNS' : 'IP'}:${san.value}`
}

/** `::ffff:10.0.0.1` → `::ffff:a00:1`: the certificate library reads IPv6 addresses in hex groups only. */
function ipv6WithoutDottedQuad(address: string): string {
  const match = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address)
  if (!match) return address
  const [a, b, c, d] = match.slice(2).map(Number) as [number, number, number, number]
  return `${match[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
}

function isDnsName(name: string): boolean {
  return name.length <= MAX_DNS_NAME_LENGTH && name.split('.').every((label) => DNS_LABEL.test(label))
}
