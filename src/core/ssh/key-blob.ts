// The "type base64 [comment]" public key text shared by authorized_keys, known_hosts and .pub files.

/** Every public key type OpenSSH writes in these files. */
export const SSH_KEY_TYPES: ReadonlySet<string> = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'ssh-ed25519-cert-v01@openssh.com',
  'ssh-rsa-cert-v01@openssh.com',
  'ssh-dss-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'sk-ssh-ed25519-cert-v01@openssh.com',
  'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com',
])

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** The key type named inside an SSH wire-format public key blob (its first `string` field). */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined
  const length = blob.readUInt32BE(0)
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined
  return blob.toString('latin1', 4, 4 + length)
}

/**
 * The key type an algorithm name stands for: RSA signature algorithms (`rsa-sha2-256`,
 * `rsa-sha2-512` and their certificate forms) all use `ssh-rsa` keys.
 */
export function normalizeKeyType(algorithm: string): string {
  if (algorithm === 'rsa-sha2-256' || algorithm === 'rsa-sha2-512') return 'ssh-rsa'
  if (algorithm === 'rsa-sha2-256-cert-v01@openssh.com' || algorithm === 'rsa-sha2-512-cert-v01@openssh.com') {
    return 'ssh-rsa-cert-v01@openssh.com'
  }

  return algorithm
}

export type ParsedPublicKeyText = {type: string; blob: Buffer; comment: string} | {error: string}

/** Parses `type base64 [comment...]` (leading whitespace already removed). */
export function parsePublicKeyText(text: string): ParsedPublicKeyText {
  const match = /^(\S+)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(text.trim())
  if (!match) return {error: 'expected "<key type> <base64 key> [comment]"'}
  const [, type, base64, comment = ''] = match as unknown as [string, string, string, string | undefined]
  if (!SSH_KEY_TYPES.has(type)) return {error: `unknown key type "${type}"`}
  if (!BASE64.test(base64)) return {error: `the ${type} key is not valid base64`}
  const blob = Buffer.from(base64, 'base64')
  const innerType = blobKeyType(blob)
  if (innerType === undefined) return {error: `the ${type} key data is malformed`}
  if (innerType !== type) return {error: `the line says ${type} but the key data is ${innerType}`}
  return {type, blob, comment: comment.trim()}
}

const KEY_TYPE_LABELS: Readonly<Record<string, string>> = {
  'ssh-ed25519': 'ED25519',
  'ssh-rsa': 'RSA',
  'ssh-dss': 'DSA',
  'ecdsa-sha2-nistp256': 'ECDSA',
  'ecdsa-sha2-nistp384': 'ECDSA',
  'ecdsa-sha2-nistp521': 'ECDSA',
  'sk-ssh-ed25519@openssh.com': 'ED25519-SK',
  'sk-ecdsa-sha2-nistp256@openssh.com': 'ECDSA-SK',
}

/** The name ssh prints for a key type in messages: ED25519, RSA, ECDSA, ED25519-SK, RSA-CERT... */
export function keyTypeLabel(type: string): string {
  const certSuffix = '-cert-v01@openssh.com'
  const isCert = type.endsWith(certSuffix)
  const base = isCert ? type.replace(certSuffix, type.startsWith('sk-') ? '@openssh.com' : '') : type
  const label = KEY_TYPE_LABELS[normalizeKeyType(base)] ?? type.toUpperCase()
  return isCert ? `${label}-CERT` : label
}
