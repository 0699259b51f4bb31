// OpenSSH known_hosts files (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): checking a server's host key
// the way ssh does, and recording a newly trusted one.
import {createHmac} from 'node:crypto'
import {appendFile, mkdir, open, readFile} from 'node:fs/promises'
import {dirname} from 'node:path'
import {withFileLock} from '../atomic-file.js'
import {errnoCode, RestwireError} from '../errors.js'
import {fileErrorReason} from '../fs-errors.js'
import {blobKeyType, keyTypeLabel, normalizeKeyType, parsePublicKeyText} from './key-blob.js'

export type HostKeyStatus = 'match' | 'unknown' | 'changed' | 'revoked'

export interface KnownHostEntry {
  marker?: 'revoked' | 'cert-authority'
  /** Comma-separated patterns, lowercased; absent for a hashed entry. */
  patterns?: string[]
  hashed?: {salt: Buffer; hmac: Buffer}
  type: string
  blob: Buffer
  line: number
}

/** The name ssh looks hosts up by: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const lower = host.toLowerCase()
  return port === 22 ? lower : `[${lower}]:${port}`
}

export class KnownHosts {
  readonly #path: string
  readonly #entries: KnownHostEntry[]
  readonly #errors: {line: number; message: string}[]

  private constructor(path: string, entries: KnownHostEntry[], errors: {line: number; message: string}[]) {
    this.#path = path
    this.#entries = entries
    this.#errors = errors
  }

  /** Reads the file; a missing file is an empty one (nothing trusted yet). */
  static async load(path: string): Promise<KnownHosts> {
    let text = ''
    try {
      text = await readFile(path, 'utf8')
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') {
        throw new RestwireError('RW_ERR_KEY_FILE', `Cannot read the known_hosts file ${path}: ${fileErrorReason(error)}`, {
          cause: error,
          details: {path},
        })
      }
    }

    const {entries, errors} = parseKnownHosts(text)
    return new KnownHosts(path, entries, errors)
  }

  get path(): string {
    return this.#path
  }

  /** Lines that were skipped because they could not be parsed. */
  get errors(): readonly {line: number; message: string}[] {
    return this.#errors
  }

  check(host: string, port: number, keyType: string, blob: Buffer): HostKeyStatus {
    const name = knownHostsName(host, port)
    const entries = this.#entries.filter((entry) => entry.marker !== 'cert-authority' && entryMatches(entry, name))
    if (entries.some((entry) => entry.marker === 'revoked' && entry.blob.equals(blob))) return 'revoked'
    const keys = entries.filter((entry) => entry.marker === undefined)
    const type = blobKeyType(blob) ?? normalizeKeyType(keyType)
    if (keys.some((entry) => entry.type === type && entry.blob.equals(blob))) return 'match'
    if (keys.length === 0) return 'unknown'
    // A different key of the same type is what ssh calls a changed host key. When only keys of
    // other types are known, ssh asks the user; with no one to ask, restwire is as strict as for a
    // changed key: the host proved it holds a different key, and a new key type is how an attacker
    // without the old private key would try to get past the check.
    return 'changed'
  }

  /** The line of the entry that trusts this key (0 for one added by this process), for traces. */
  matchingLine(host: string, port: number, blob: Buffer): number | undefined {
    const name = knownHostsName(host, port)
    return this.#entries.find((entry) => entry.marker === undefined && entry.blob.equals(blob) && entryMatches(entry, name))?.line
  }

  /** Appends a plain (not hashed) line trusting this key, creating the file 0600 and its directory 0700. */
  async add(host: string, port: number, keyType: string, blob: Buffer): Promise<void> {
    const type = blobKeyType(blob) ?? normalizeKeyType(keyType)
    const name = knownHostsName(host, port)
    const line = `${name} ${type} ${blob.toString('base64')}\n`
    try {
      await mkdir(dirname(this.#path), {recursive: true, mode: 0o700})
      await withFileLock(this.#path, async () => {
        await appendFile(this.#path, (await endsWithNewline(this.#path)) ? line : `\n${line}`, {mode: 0o600})
      })
    } catch (error) {
      throw new RestwireError('RW_ERR_KEY_FILE', `Cannot add the host key to ${this.#path}: ${fileErrorReason(error)}`, {
        cause: error,
        details: {path: this.#path},
      })
    }

    this.#entries.push({patterns: [name], type, blob, line: 0})
  }
}

async function endsWithNewline(path: string): Promise<boolean> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return true
    throw error
  }

  try {
    const {size} = await handle.stat()
    if (size === 0) return true
    const last = Buffer.alloc(1)
    await handle.read(last, 0, 1, size - 1)
    return last[0] === 0x0a
  } finally {
    await handle.close()
  }
}

export function parseKnownHosts(text: string): {entries: KnownHostEntry[]; errors: {line: number; message: string}[]} {
  const entries: KnownHostEntry[] = []
  const errors: {line: number; message: string}[] = []
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '').trim()
    if (line === '' || line.startsWith('#')) continue
    const parsed = parseLine(line, index + 1)
    if ('error' in parsed) errors.push({line: index + 1, message: parsed.error})
    else entries.push(parsed)
  }

  return {entries, errors}
}

function parseLine(line: string, lineNumber: number): KnownHostEntry | {error: string} {
  let rest = line
  let marker: KnownHostEntry['marker']
  if (rest.startsWith('@')) {
    const markerText = /^@(\S+)/.exec(rest)![1]
    if (markerText !== 'revoked' && markerText !== 'cert-authority') return {error: `unknown marker "@${markerText}"`}
    marker = markerText
    rest = rest.slice(markerText.length + 1).trimStart()
  }

  const hostsMatch = /^(\S+)[ \t]+/.exec(rest)
  if (!hostsMatch) return {error: 'expected "<hosts> <key type> <base64 key>"'}
  const hosts = hostsMatch[1]!
  const key = parsePublicKeyText(rest.slice(hostsMatch[0].length))
  if ('error' in key) return key
  const entry: KnownHostEntry = {type: key.type, blob: key.blob, line: lineNumber}
  if (marker) entry.marker = marker
  if (hosts.startsWith('|1|')) {
    const [salt, hmac] = hosts.slice(3).split('|').map((part) => Buffer.from(part, 'base64'))
    if (!salt || !hmac || salt.length !== 20 || hmac.length !== 20) return {error: 'malformed hashed host name'}
    entry.hashed = {salt, hmac}
  } else {
    entry.patterns = hosts.toLowerCase().split(',')
  }

  return entry
}

function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) return createHmac('sha1', entry.hashed.salt).update(name).digest().equals(entry.hashed.hmac)
  return matchPatternList(name, entry.patterns ?? [])
}

/** ssh's match_hostname(): true when a pattern matches and no `!pattern` does. */
function matchPatternList(name: string, patterns: string[]): boolean {
  let matched = false
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!')
    if (!globMatch(name, negated ? pattern.slice(1) : pattern)) continue
    if (negated) return false
    matched = true
  }

  return matched
}

/** `*` matches any run of characters, `?` exactly one; everything else literally. */
function globMatch(text: string, pattern: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')
  return new RegExp(`^${regex}$`, 's').test(text)
}

export interface HostKeyErrorInfo {
  host: string
  port: number
  keyType: string
  fingerprint: string
  knownHostsPath: string
  /** The command that trusts this key, shown in the hint; defaults to an ssh-keyscan line. */
  trustCommand?: string
}

/** The error a client raises when check() did not return 'match', worded like ssh's own. */
export function hostKeyError(status: 'unknown' | 'changed' | 'revoked', info: HostKeyErrorInfo): RestwireError {
  const name = knownHostsName(info.host, info.port)
  const label = keyTypeLabel(normalizeKeyType(info.keyType))
  const details = {
    host: info.host,
    port: info.port,
    keyType: info.keyType,
    fingerprint: info.fingerprint,
    knownHosts: info.knownHostsPath,
  }
  if (status === 'unknown') {
    const trust =
      info.trustCommand ?? `ssh-keyscan -p ${info.port} ${shellQuote(info.host)} >> ${shellQuote(info.knownHostsPath)}`
    return new RestwireError(
      'RW_ERR_HOST_KEY_UNKNOWN',
      `The authenticity of host '${name}' can't be established. ${label} key fingerprint is ${info.fingerprint}. ` +
        `It is not in ${info.knownHostsPath}.`,
      {hint: `If you trust this fingerprint (check it with the server's operator), run: ${trust}`, details},
    )
  }

  if (status === 'revoked') {
    return new RestwireError(
      'RW_ERR_HOST_KEY_CHANGED',
      `REVOKED HOST KEY for '${name}': its ${label} key ${info.fingerprint} is marked @revoked in ` +
        `${info.knownHostsPath}. restwire will not connect to it.`,
      {hint: 'The host is using a key that was revoked. Ask its operator for the new key.', details},
    )
  }

  return new RestwireError(
    'RW_ERR_HOST_KEY_CHANGED',
    `WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for '${name}'! The ${label} key it sent ` +
      `(${info.fingerprint}) does not match the key recorded in ${info.knownHostsPath}. ` +
      'Someone could be eavesdropping on you right now (man-in-the-middle attack), or the host key has ' +
      'just been changed. restwire will not connect.',
    {
      hint:
        "If the change is expected (confirm the new fingerprint with the server's operator), remove the old " +
        `entry with: ssh-keygen -R ${shellQuote(name)} -f ${shellQuote(info.knownHostsPath)}`,
      details,
    },
  )
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`
}
