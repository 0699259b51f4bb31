// Generating SSH key pairs in OpenSSH format and writing them where ssh-keygen would.
import {access, appendFile, mkdir, readFile} from 'node:fs/promises'
import {dirname} from 'node:path'
import {createFileExclusive, replaceFile, withFileLock} from '../atomic-file.js'
import {errnoCode, RestwireError} from '../errors.js'
import {fileErrorReason} from '../fs-errors.js'
import {parseAuthorizedKeys} from '../ssh/authorized-keys.js'
import {sha256Fingerprint} from '../ssh/fingerprint.js'

export type SshKeyType = 'ed25519' | 'rsa' | 'ecdsa'

export const SSH_KEY_TYPE_NAMES: readonly SshKeyType[] = ['ed25519', 'rsa', 'ecdsa']
export const DEFAULT_RSA_BITS = 3072
export const MIN_RSA_BITS = 1024
export const MAX_RSA_BITS = 16_384
export const ECDSA_BITS = [256, 384, 521] as const
const MAX_GENERATE_ATTEMPTS = 8
// ssh-keygen's defaults for new-format keys: bcrypt KDF with 16 rounds, aes256-ctr.
const KDF_ROUNDS = 16
const KEY_CIPHER = 'aes256-ctr'

export interface SshKeyPairOptions {
  type: SshKeyType
  bits?: number
  /** Encrypts the private key when non-empty. */
  passphrase?: string
  comment?: string
}

export interface SshKeyPair {
  type: SshKeyType
  /** OpenSSH format (`-----BEGIN OPENSSH PRIVATE KEY-----`). */
  privateKey: string
  /** One line: `ssh-ed25519 AAAA... comment`. */
  publicKey: string
  fingerprint: string
}

/** The file name ssh-keygen gives a key of this type: id_ed25519, id_rsa, id_ecdsa. */
export function sshKeyFileName(type: SshKeyType): string {
  return `id_${type}`
}

export async function generateSshKeyPair(options: SshKeyPairOptions): Promise<SshKeyPair> {
  const {type, passphrase, comment = ''} = options
  if (/[\r\n]/.test(comment)) throw new RestwireError('RW_ERR_USAGE', 'The key comment must be a single line')
  const bits = keyBits(type, options.bits)
  const {utils} = (await import('ssh2')).default
  const encryption = passphrase ? {passphrase, cipher: KEY_CIPHER, rounds: KDF_ROUNDS} : {}
  const generate = (): Promise<{private: string; public: string}> => new Promise((resolve, reject) => {
    const callback = (error: Error | null, pair: {private: string; public: string}): void =>
      error ? reject(error) : resolve(pair)
    if (type === 'rsa') utils.generateKeyPair('rsa', {bits, comment, ...encryption}, callback)
    else if (type === 'ecdsa') utils.generateKeyPair('ecdsa', {bits: bits as 256 | 384 | 521, comment, ...encryption}, callback)
    else utils.generateKeyPair('ed25519', {comment, ...encryption}, callback)
  })
  // ssh2's generator drops a leading zero byte of an ed25519 public key (about 1 key in 256), writing a
  // file nothing can read. Keep only a pair whose private key parses back to the same public key.
  let generated: {private: string; public: string} | undefined
  for (let attempt = 0; attempt < MAX_GENERATE_ATTEMPTS && !generated; attempt++) {
    const pair = await generate().catch((error: unknown) => {
      throw new RestwireError('RW_ERR_INTERNAL', `Could not generate the ${type} key: ${String(error)}`, {cause: error})
    })
    const parsed = utils.parseKey(pair.private, passphrase)
    const blob = Buffer.from(pair.public.split(' ')[1] ?? '', 'base64')
    if (!(parsed instanceof Error) && parsed.getPublicSSH().equals(blob)) generated = pair
  }

  if (!generated) throw new RestwireError('RW_ERR_INTERNAL', `Could not generate a valid ${type} key`)

  const [keyType = '', base64 = ''] = generated.public.split(' ')
  const publicKey = comment ? `${keyType} ${base64} ${comment}` : `${keyType} ${base64}`
  return {
    type,
    privateKey: generated.private,
    publicKey,
    fingerprint: sha256Fingerprint(Buffer.from(base64, 'base64')),
  }
}

function keyBits(type: SshKeyType, bits: number | undefined): number {
  if (bits !== undefined && !Number.isInteger(bits)) {
    throw new RestwireError('RW_ERR_USAGE', `Key size must be a whole number of bits, not ${bits}`)
  }

  switch (type) {
    case 'ed25519':
      if (bits !== undefined && bits !== 256) {
        throw new RestwireError('RW_ERR_USAGE', `ed25519 keys have a fixed size; remove --bits ${bits}`)
      }

      return 256
    case 'rsa':
      if (bits !== undefined && (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS)) {
        throw new RestwireError(
          'RW_ERR_USAGE',
          `RSA keys must be ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits, not ${bits} (default ${DEFAULT_RSA_BITS})`,
        )
      }

      return bits ?? DEFAULT_RSA_BITS
    case 'ecdsa':
      if (bits !== undefined && !(ECDSA_BITS as readonly number[]).includes(bits)) {
        throw new RestwireError('RW_ERR_USAGE', `ECDSA keys must be 256, 384 or 521 bits, not ${bits}`)
      }

      return bits ?? 256
    default:
      throw new RestwireError('RW_ERR_USAGE', `Unknown key type "${String(type)}"; use ed25519, rsa or ecdsa`)
  }
}

export interface WriteSshKeyPairOptions {
  force?: boolean
}

export interface WriteSshKeyPairResult {
  privateKeyPath: string
  publicKeyPath: string
}

/**
 * Writes the private key to `path` (0600) and the public key to `path.pub` (0644), creating missing
 * parent directories 0700. Refuses to replace either file unless `force`.
 */
export async function writeSshKeyPair(
  path: string,
  pair: SshKeyPair,
  options: WriteSshKeyPairOptions = {},
): Promise<WriteSshKeyPairResult> {
  const privateKeyPath = path
  const publicKeyPath = `${path}.pub`
  const publicText = pair.publicKey + '\n'
  try {
    await mkdir(dirname(path), {recursive: true, mode: 0o700})
    if (options.force) {
      await replaceFile(privateKeyPath, pair.privateKey, 0o600)
      await replaceFile(publicKeyPath, publicText, 0o644)
      return {privateKeyPath, publicKeyPath}
    }

    await assertKeyPairPathsFree(path)
    if (!(await createFileExclusive(privateKeyPath, pair.privateKey, 0o600))) throw fileExists(privateKeyPath)
    if (!(await createFileExclusive(publicKeyPath, publicText, 0o644))) throw fileExists(publicKeyPath)
  } catch (error) {
    if (error instanceof RestwireError) throw error
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot write the key to ${path}: ${fileErrorReason(error)}`, {
      cause: error,
      details: {path},
    })
  }

  return {privateKeyPath, publicKeyPath}
}

/** Throws RW_ERR_FILE_EXISTS naming `path` or `path.pub` if either exists (so callers can fail before generating). */
export async function assertKeyPairPathsFree(path: string): Promise<void> {
  for (const file of [path, `${path}.pub`]) if (await exists(file)) throw fileExists(file)
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return false
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot check ${path}: ${fileErrorReason(error)}`, {
      cause: error,
      details: {path},
    })
  }
}

function fileExists(path: string): RestwireError {
  return new RestwireError('RW_ERR_FILE_EXISTS', `${path} already exists`, {details: {path}})
}

export interface AppendAuthorizedKeyResult {
  /** False when the file already authorized this key (same key blob, whatever the comment). */
  added: boolean
  /** True when the file did not exist before. */
  created: boolean
}

/**
 * Adds a public key line to an authorized_keys file, creating it 0600 (and its directory 0700).
 * Holds a lock while reading and appending, so concurrent callers never add the same key twice.
 */
export async function appendAuthorizedKey(file: string, publicKeyLine: string): Promise<AppendAuthorizedKeyResult> {
  const line = publicKeyLine.trim()
  const [key] = parseAuthorizedKeys(line).keys
  if (!key || line.includes('\n')) {
    throw new RestwireError('RW_ERR_USAGE', `Not a single public key line: ${line.slice(0, 80)}`)
  }

  try {
    await mkdir(dirname(file), {recursive: true, mode: 0o700})
    return await withFileLock(file, async () => {
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw error
        const created = await createFileExclusive(file, line + '\n', 0o600)
        if (created) return {added: true, created: true}
        text = await readFile(file, 'utf8')
      }

      if (parseAuthorizedKeys(text).keys.some((existing) => existing.blob.equals(key.blob))) {
        return {added: false, created: false}
      }

      const separator = text === '' || text.endsWith('\n') ? '' : '\n'
      await appendFile(file, separator + line + '\n')
      return {added: true, created: false}
    })
  } catch (error) {
    if (error instanceof RestwireError) throw error
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot add the key to ${file}: ${fileErrorReason(error)}`, {
      cause: error,
      details: {path: file},
    })
  }
}
