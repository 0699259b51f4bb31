// Loading a private key file for SSH client or server use, asking for its passphrase only when needed.
import {closeSync, fstatSync, openSync, readFileSync} from 'node:fs'
import type {ParsedKey} from 'ssh2'
import {RestwireError} from '../errors.js'
import {fileErrorReason} from '../fs-errors.js'
import {sha256Fingerprint} from './fingerprint.js'

export const KEY_PASSPHRASE_ENV = 'RESTWIRE_KEY_PASSPHRASE'
const PKCS8_PEM = /-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/
const PROMPT_ATTEMPTS = 3

export interface LoadedPrivateKey {
  path: string
  /** The file contents, as ssh2's `privateKey` option takes them. */
  privateKey: Buffer
  /** Set when the key is encrypted: pass it to ssh2 along with `privateKey`. */
  passphrase?: string
  /** The SSH key type, e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`. */
  type: string
  publicKeyBlob: Buffer
  fingerprint: string
  /**
   * ssh2's parse of the key, which this process's SSH client takes as it is (no parse of its own). Not
   * enumerable: never copied or serialised with the rest (a master gets the file's bytes).
   */
  readonly parsed?: ParsedKey
}

export interface LoadPrivateKeyOptions {
  passphrase?: string
  /**
   * Asked for the passphrase when neither the option nor the environment gives one (a terminal prompt),
   * up to 3 times; `retry` says how the previous answer failed, so the prompt can say so.
   */
  askPassphrase?: (path: string, retry?: {attempt: number; attempts: number}) => Promise<string>
  env?: NodeJS.ProcessEnv
}

/**
 * Reads an OpenSSH-format (ed25519, RSA, ECDSA) or PEM (RSA, EC) private key. The passphrase of an
 * encrypted key comes from `options.passphrase`, else $RESTWIRE_KEY_PASSPHRASE, else askPassphrase.
 */
export async function loadPrivateKey(path: string, options: LoadPrivateKeyOptions = {}): Promise<LoadedPrivateKey> {
  const {data, mode, uid} = await readKeyFile(path)
  const text = data.toString('utf8')
  if (PKCS8_PEM.test(text)) {
    throw new RestwireError('RW_ERR_KEY_FILE', `${path} is a PKCS#8 private key, which restwire cannot read`, {
      hint: `Convert it to OpenSSH format with: ssh-keygen -p -f ${path}`,
      details: {path},
    })
  }

  if (!isEncryptedKey(text)) {
    const parsed = await parse(path, data)
    if (parsed instanceof Error) throw notAKey(path, parsed)
    assertPrivateMode(path, mode, uid)
    return toLoaded(path, data, parsed, undefined)
  }

  assertPrivateMode(path, mode, uid)
  const env = options.env ?? process.env
  const given = options.passphrase ?? (env[KEY_PASSPHRASE_ENV] || undefined)
  if (given !== undefined) {
    const source = options.passphrase === undefined ? ` (from $${KEY_PASSPHRASE_ENV})` : ''
    const parsed = await parse(path, data, given)
    if (parsed instanceof Error) throw wrongPassphrase(path, parsed, source)
    return toLoaded(path, data, parsed, given)
  }

  if (!options.askPassphrase) {
    throw new RestwireError('RW_ERR_KEY_FILE', `The private key ${path} is encrypted and no passphrase was given`, {
      hint: `Set ${KEY_PASSPHRASE_ENV} to its passphrase, run on a terminal to be asked for it, or remove the passphrase with: ssh-keygen -p -f ${path}`,
      details: {path},
    })
  }

  let lastError: Error | undefined
  for (let attempt = 0; attempt < PROMPT_ATTEMPTS; attempt++) {
    const passphrase = await options.askPassphrase(path, attempt === 0 ? undefined : {attempt: attempt + 1, attempts: PROMPT_ATTEMPTS})
    const parsed = await parse(path, data, passphrase)
    if (!(parsed instanceof Error)) return toLoaded(path, data, parsed, passphrase)
    lastError = parsed
  }

  throw wrongPassphrase(path, lastError, ` (${PROMPT_ATTEMPTS} tries)`)
}

let lastParse: {data: Buffer; parsed: ParsedKey | Error} | undefined

/**
 * ssh2's parse of a key file's bytes (an Error when they are not a key, or the passphrase is wrong). The
 * last parse without a passphrase is remembered: a call that connects itself with the home's key checks
 * that key (home.ts) and then loads it (here), the same bytes, and one parse does for both.
 */
export async function parseKeyData(data: Buffer, passphrase?: string): Promise<ParsedKey | Error> {
  const {parseKey} = (await import('ssh2/lib/protocol/keyParser.js')).default
  if (passphrase !== undefined) return parseKey(data, passphrase)
  if (lastParse?.data.equals(data)) return lastParse.parsed
  const parsed = parseKey(data)
  lastParse = {data: Buffer.from(data), parsed}
  return parsed
}

/** Parses with ssh2; an Error return means "not a key", or "wrong passphrase" when one was given. */
async function parse(path: string, data: Buffer, passphrase?: string): Promise<ParsedKey | Error> {
  const parsed = await parseKeyData(data, passphrase)
  if (parsed instanceof Error) return parsed
  if (!parsed.isPrivateKey()) {
    throw new RestwireError('RW_ERR_KEY_FILE', `${path} is a public key, not a private key`, {
      hint: path.endsWith('.pub') ? `Use the private key file ${path.slice(0, -4)}.` : undefined,
      details: {path},
    })
  }

  return parsed
}

function toLoaded(path: string, data: Buffer, parsed: ParsedKey, passphrase: string | undefined): LoadedPrivateKey {
  const publicKeyBlob = parsed.getPublicSSH()
  const loaded: LoadedPrivateKey = {
    path,
    privateKey: data,
    type: parsed.type,
    publicKeyBlob,
    fingerprint: sha256Fingerprint(publicKeyBlob),
  }
  if (passphrase !== undefined) loaded.passphrase = passphrase
  Object.defineProperty(loaded, 'parsed', {enumerable: false, value: parsed})
  return loaded
}

/**
 * The contents with the mode and owner of the file they were read from (one open: no race between them).
 * Synchronous: a key file is a few hundred bytes, and the asynchronous calls would start libuv's thread
 * pool and cost two thread wake-ups each, on the start-up path of every call that connects itself.
 */
async function readKeyFile(path: string): Promise<{data: Buffer; mode: number; uid: number}> {
  try {
    const fd = openSync(path, 'r')
    try {
      const stats = fstatSync(fd)
      return {data: readFileSync(fd), mode: stats.mode, uid: stats.uid}
    } finally {
      closeSync(fd)
    }
  } catch (error) {
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot read the private key ${path}: ${fileErrorReason(error)}`, {
      cause: error,
      hint: 'Pass the path of an SSH private key (for example one made by `restwire keys gen` or ssh-keygen).',
      details: {path},
    })
  }
}

/**
 * Refuses a private key that group or others may read, as OpenSSH does ("UNPROTECTED PRIVATE KEY
 * FILE!"). Like OpenSSH, only for a file owned by the user running restwire: a key owned by someone
 * else (root reading a service account's key) is that owner's business. Not checked on Windows.
 */
function assertPrivateMode(path: string, mode: number, uid: number): void {
  if (typeof process.getuid !== 'function' || uid !== process.getuid() || (mode & 0o077) === 0) return
  const octal = (mode & 0o777).toString(8).padStart(4, '0')
  throw new RestwireError('RW_ERR_KEY_FILE', `Permissions ${octal} for the private key ${path} are too open: it must not be readable by group or others`, {
    hint: `chmod 600 ${path}`,
    details: {mode: octal, path},
  })
}

function notAKey(path: string, cause: Error): RestwireError {
  return new RestwireError('RW_ERR_KEY_FILE', `${path} is not a private key restwire can read (${cause.message})`, {
    cause,
    hint: 'restwire reads OpenSSH-format ed25519, RSA and ECDSA keys, and PEM RSA and EC keys.',
    details: {path},
  })
}

function wrongPassphrase(path: string, cause: Error | undefined, source: string): RestwireError {
  return new RestwireError('RW_ERR_KEY_FILE', `Wrong passphrase for the private key ${path}${source}`, {
    cause,
    hint: 'Check the passphrase, or set a new one with: ssh-keygen -p -f ' + path,
    details: {path},
  })
}

/**
 * Whether the key needs a passphrase, read from the file's own markers: the cipher name in an
 * OpenSSH key, the Proc-Type header of a PEM key, or the Encryption header of a PuTTY key.
 */
export function isEncryptedKey(text: string): boolean {
  const openssh = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]+?)-----END OPENSSH PRIVATE KEY-----/.exec(text)
  if (openssh) {
    const data = Buffer.from(openssh[1]!.replace(/\s+/g, ''), 'base64')
    const magic = 'openssh-key-v1\0'
    if (data.length < magic.length + 4 || data.toString('latin1', 0, magic.length) !== magic) return false
    const length = data.readUInt32BE(magic.length)
    return data.toString('latin1', magic.length + 4, magic.length + 4 + length) !== 'none'
  }

  if (/^Proc-Type:\s*4,\s*ENCRYPTED/m.test(text)) return true
  return /^Encryption:\s*(?!none\s*$)\S/m.test(text)
}
