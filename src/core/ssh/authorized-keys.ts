// OpenSSH authorized_keys files: a parser (sshd(8) "AUTHORIZED_KEYS FILE FORMAT") and a handle that
// picks up edits to the file while a server runs.
import {readFileSync, statSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {errnoCode, RestwireError} from '../errors.js'
import {fileErrorReason} from '../fs-errors.js'
import {sha256Fingerprint} from './fingerprint.js'
import {normalizeKeyType, parsePublicKeyText, SSH_KEY_TYPES} from './key-blob.js'

export interface AuthorizedKey {
  type: string
  blob: Buffer
  comment: string
  /** The options field split on its top-level commas, each exactly as written (quotes kept). */
  options: string[]
  fingerprint: string
  /** 1-based line number in the file. */
  line: number
}

export interface AuthorizedKeysParseResult {
  keys: AuthorizedKey[]
  errors: {line: number; message: string}[]
}

// sshd rejects a line whose options it does not know, so a typo never silently widens access.
const KNOWN_OPTIONS = new Set([
  'agent-forwarding',
  'cert-authority',
  'command',
  'environment',
  'expiry-time',
  'from',
  'no-agent-forwarding',
  'no-port-forwarding',
  'no-pty',
  'no-touch-required',
  'no-user-rc',
  'no-x11-forwarding',
  'permitlisten',
  'permitopen',
  'port-forwarding',
  'principals',
  'pty',
  'restrict',
  'tunnel',
  'user-rc',
  'verify-required',
  'x11-forwarding',
])

export function parseAuthorizedKeys(text: string): AuthorizedKeysParseResult {
  const result: AuthorizedKeysParseResult = {keys: [], errors: []}
  const lines = text.split('\n')
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, '').trimStart()
    if (line === '' || line.startsWith('#')) continue
    const parsed = parseLine(line)
    if ('error' in parsed) result.errors.push({line: index + 1, message: parsed.error})
    else result.keys.push({...parsed, fingerprint: sha256Fingerprint(parsed.blob), line: index + 1})
  }

  return result
}

type ParsedLine = Omit<AuthorizedKey, 'fingerprint' | 'line'> | {error: string}

function parseLine(line: string): ParsedLine {
  const [firstToken = '', secondToken = ''] = line.split(/[ \t]+/)
  // Like sshd: a line either starts with a key type, or with options followed by the key.
  if (SSH_KEY_TYPES.has(firstToken)) return withOptions(parsePublicKeyText(line), [])
  const looksLikeOptions = /[=,]/.test(firstToken) || SSH_KEY_TYPES.has(secondToken)
  if (!looksLikeOptions && !KNOWN_OPTIONS.has(firstToken.toLowerCase())) {
    return {error: `unknown key type "${firstToken}"`}
  }

  const options = splitOptions(line)
  if ('error' in options) return options
  const rest = line.slice(options.end).trimStart()
  if (rest === '') return {error: 'options but no key'}
  return withOptions(parsePublicKeyText(rest), options.options)
}

function withOptions(key: ReturnType<typeof parsePublicKeyText>, options: string[]): ParsedLine {
  return 'error' in key ? key : {...key, options}
}

/**
 * Splits the options field: it ends at the first whitespace outside double quotes; commas inside
 * quotes do not split; `\"` inside quotes is a literal quote (sshd's only escape).
 */
function splitOptions(line: string): {options: string[]; end: number} | {error: string} {
  const options: string[] = []
  let current = ''
  let inQuotes = false
  let index = 0
  for (; index < line.length; index++) {
    const char = line[index]
    if (!inQuotes && (char === ' ' || char === '\t')) break
    if (inQuotes && char === '\\' && line[index + 1] === '"') {
      current += '\\"'
      index++
      continue
    }

    if (char === '"') inQuotes = !inQuotes
    if (!inQuotes && char === ',') {
      options.push(current)
      current = ''
      continue
    }

    current += char
  }

  if (inQuotes) return {error: 'unterminated quoted option value'}
  options.push(current)
  for (const option of options) {
    const match = /^([A-Za-z0-9_-]+)(=".*")?$/s.exec(option)
    if (!match) return {error: `malformed option "${option}"`}
    if (!KNOWN_OPTIONS.has(match[1]!.toLowerCase())) return {error: `unknown option "${match[1]}"`}
  }

  return {options, end: index}
}

export interface AuthorizedKeysFileOptions {
  /** How often find() may stat the file to notice edits. Default 250 ms. */
  recheckMs?: number
}

const DEFAULT_RECHECK_MS = 250

/**
 * An authorized_keys file kept up to date: find() re-reads the file when its inode, size, mtime or
 * ctime changed, so keys added or removed while a server runs take effect without a restart.
 */
export class AuthorizedKeysFile {
  readonly #path: string
  readonly #recheckMs: number
  #parsed: AuthorizedKeysParseResult
  #stamp: string
  #checkedAt = Date.now()
  #closed = false

  private constructor(path: string, parsed: AuthorizedKeysParseResult, stamp: string, recheckMs: number) {
    this.#path = path
    this.#parsed = parsed
    this.#stamp = stamp
    this.#recheckMs = recheckMs
  }

  static async open(path: string, options: AuthorizedKeysFileOptions = {}): Promise<AuthorizedKeysFile> {
    let text: string
    let stamp: string
    try {
      stamp = statStamp(path)
      text = await readFile(path, 'utf8')
    } catch (error) {
      const missing = errnoCode(error) === 'ENOENT'
      throw new RestwireError(
        'RW_ERR_KEY_FILE',
        missing
          ? `The authorized_keys file ${path} does not exist`
          : `Cannot read the authorized_keys file ${path}: ${fileErrorReason(error)}`,
        {
          cause: error,
          hint: missing
            ? `Create it with the public keys that may connect, one per line (restwire keys gen --authorize ${path}).`
            : undefined,
          details: {path},
        },
      )
    }

    return new AuthorizedKeysFile(path, parseAuthorizedKeys(text), stamp, options.recheckMs ?? DEFAULT_RECHECK_MS)
  }

  get path(): string {
    return this.#path
  }

  /** Lines that were skipped, as of the last read; a server may log these once. */
  get errors(): readonly {line: number; message: string}[] {
    this.#refresh()
    return this.#parsed.errors
  }

  /**
   * The first entry for this key, like sshd. Entries marked `cert-authority` authorize
   * certificates signed by the key, not the key itself, so they never match.
   */
  find(keyType: string, blob: Buffer): AuthorizedKey | undefined {
    if (this.#closed) return undefined
    this.#refresh()
    const type = normalizeKeyType(keyType)
    return this.#parsed.keys.find(
      (key) =>
        key.type === type &&
        key.blob.equals(blob) &&
        !key.options.some((option) => option.toLowerCase() === 'cert-authority'),
    )
  }

  close(): void {
    this.#closed = true
    this.#parsed = {keys: [], errors: []}
  }

  #refresh(): void {
    const now = Date.now()
    if (this.#closed || now - this.#checkedAt < this.#recheckMs) return
    this.#checkedAt = now
    try {
      const stamp = statStamp(this.#path)
      if (stamp === this.#stamp) return
      this.#parsed = parseAuthorizedKeys(readFileSync(this.#path, 'utf8'))
      this.#stamp = stamp
    } catch {
      // A file that vanished or became unreadable authorizes nobody until it is back.
      this.#parsed = {keys: [], errors: []}
      this.#stamp = ''
    }
  }
}

function statStamp(path: string): string {
  const stats = statSync(path, {bigint: true})
  if (stats.isDirectory()) throw Object.assign(new Error(`${path} is a directory`), {code: 'EISDIR'})
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`
}
