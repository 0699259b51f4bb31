// Where a persisted korv connection listens, and the one line each side sends first on its UNIX socket.
// Like OpenSSH's ControlPath: one socket per target, user, key and host key check, in a directory only
// this user can enter (0700), the socket itself 0600. A cheap module: no ssh2, no net.
import {lstat, mkdir} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {localPaths} from '../home.js'
import {ERROR_CATALOGUE, type ErrorCode, PeerGoneError, RestwireError, errnoCode, errorForCode} from '../errors.js'

export const PERSIST_DIR_NAME = 'persist'
/** The first line of either side is at most this long; a peer that sends more is not a restwire client. */
export const PERSIST_HEADER_MAX_BYTES = 4096
/** A client that has not sent its first line by then is dropped. */
export const PERSIST_HEADER_TIMEOUT_MS = 5000
/** Linux's sun_path holds 107 bytes and a NUL. */
const MAX_SOCKET_PATH_BYTES = 107
const PROTOCOL = 'restwire-korv-persist/1'

/** What makes two calls share a persisted connection: the same server, user, keys and host key check. */
export interface PersistTarget {
  host: string
  port: number
  user: string
  /** Absolute key paths, or empty for the restwire home's key. */
  identities: string[]
  knownHostsPath: string
  /** false for --insecure: such a connection never serves a call that verifies the host key. */
  verifyHostKey: boolean
}

/** The target as one string: compared in full by the master, hashed for the socket's name. */
export function persistKey(target: PersistTarget): string {
  return JSON.stringify([target.host, target.port, target.user, target.identities, target.knownHostsPath, target.verifyHostKey])
}

export interface PersistTargetOptions {
  host: string
  port: number
  user: string
  identityPaths?: string[]
  knownHostsPath?: string
  insecure?: boolean
}

export interface PersistSocket {
  home: string
  key: string
  socketPath: string
}

/** The socket of this call's target (server, user, keys, known_hosts, host key check). */
export function persistSocketFor(options: PersistTargetOptions): PersistSocket {
  const paths = localPaths()
  const key = persistKey({
    host: options.host,
    identities: (options.identityPaths ?? []).map((path) => resolve(path)),
    knownHostsPath: resolve(options.knownHostsPath ?? paths.knownHosts),
    port: options.port,
    user: options.user,
    verifyHostKey: !options.insecure,
  })
  return {home: paths.home, key, socketPath: persistSocketPath(paths.home, key)}
}

export function persistDir(home: string): string {
  return join(home, PERSIST_DIR_NAME)
}

/**
 * `<home>/persist/<16 hex digits>.sock`, from two FNV-1a hashes of the key (node:crypto would be a few ms
 * of every call's start). A collision is harmless: the master compares the whole key, and a call whose
 * key differs connects on its own.
 */
export function persistSocketPath(home: string, key: string): string {
  const name = fnv1a(key, 0x811c9dc5) + fnv1a(key, 0x01000193 ^ 0x5bd1e995)
  const path = join(persistDir(home), `${name}.sock`)
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new RestwireError('RW_ERR_CONFIG', `the persisted connection's socket path is too long for a UNIX socket (${Buffer.byteLength(path)} bytes): ${path}`, {
      hint: 'Set RESTWIRE_HOME to a shorter directory.',
    })
  }

  return path
}

function fnv1a(text: string, seed: number): string {
  let hash = seed
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return (hash >>> 0).toString(16).padStart(8, '0')
}

/**
 * Makes the socket directory (0700) or checks the one there: a directory, not a link, owned by this user
 * and closed to others. Anyone who can enter it could use the connection, so anything else is refused.
 */
export async function ensurePersistDir(home: string): Promise<string> {
  const dir = persistDir(home)
  await mkdir(home, {mode: 0o700, recursive: true})
  try {
    await mkdir(dir, {mode: 0o700})
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw new RestwireError('RW_ERR_CONFIG', `cannot create ${dir}: ${(error as Error).message}`, {cause: error})
  }

  await checkPersistDir(dir)
  return dir
}

/** Throws unless `dir` is a real directory of this user with no access for group or others. */
export async function checkPersistDir(dir: string): Promise<void> {
  const stats = await lstat(dir)
  const uid = process.getuid?.()
  if (!stats.isDirectory() || (uid !== undefined && stats.uid !== uid) || (stats.mode & 0o077) !== 0) {
    throw new RestwireError('RW_ERR_CONFIG', `${dir} must be a directory of this user with mode 0700 (it holds persisted connections)`, {
      hint: `Remove it, or run: chmod 700 ${dir}`,
    })
  }
}

export type PersistOp = 'call' | 'stop'

/** Client → master, one JSON line. */
export interface PersistHello {
  protocol: typeof PROTOCOL
  key: string
  op: PersistOp
}

/** Master → client, one JSON line; after `ok: true` to a call, the socket carries a korv channel. */
export type PersistReply =
  | {ok: true; coalesce: boolean; pid: number}
  | {ok: false; code: string; message: string; hint?: string}

export function encodeHello(key: string, op: PersistOp): Buffer {
  return Buffer.from(JSON.stringify({key, op, protocol: PROTOCOL} satisfies PersistHello) + '\n')
}

export function parseHello(line: string): PersistHello | undefined {
  try {
    const value = JSON.parse(line) as Partial<PersistHello>
    if (value.protocol !== PROTOCOL || typeof value.key !== 'string' || (value.op !== 'call' && value.op !== 'stop')) return undefined
    return value as PersistHello
  } catch {
    return undefined
  }
}

export function encodeReply(reply: PersistReply): Buffer {
  return Buffer.from(JSON.stringify(reply) + '\n')
}

export function parseReply(line: string): PersistReply | undefined {
  try {
    const value = JSON.parse(line) as PersistReply
    return typeof value === 'object' && value !== null && typeof value.ok === 'boolean' ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * Reads one `\n`-terminated line from the start of a stream; what follows is pushed back (unshift) for
 * the next reader. Rejects past `maxBytes`, or if the stream ends first.
 */
export function readFirstLine(stream: NodeJS.ReadableStream & {unshift(chunk: Buffer): void}, maxBytes = PERSIST_HEADER_MAX_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0)
    const cleanup = (): void => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onEnd)
    }

    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      const newline = buffered.indexOf(0x0a)
      if (newline === -1) {
        if (buffered.length > maxBytes) {
          cleanup()
          reject(new RestwireError('RW_ERR_PROTOCOL', `first line longer than ${maxBytes} bytes`))
        }

        return
      }

      cleanup()
      stream.pause()
      if (newline + 1 < buffered.length) stream.unshift(buffered.subarray(newline + 1))
      resolve(buffered.subarray(0, newline).toString('utf8'))
    }

    const onEnd = (): void => {
      cleanup()
      reject(new PeerGoneError('the socket closed before its first line'))
    }

    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('error', onEnd)
  })
}

/**
 * What `korv call` hands the master process it starts, as one JSON line on the master's stdin (never in
 * its arguments or environment: it holds the decrypted keys' passphrases). The master answers with one
 * line on stdout, `{"ready": true, "pid"}` or `{"error": {code, message, hint}}`, and closes it.
 */
export interface PersistMasterSpec {
  socketPath: string
  key: string
  idleMs: number
  home: string
  connect: {
    host: string
    port: number
    user: string
    agent?: string
    knownHostsPath: string
    hostKeyPolicy: 'strict' | 'accept-new' | 'off'
    localAuthorizedKeysPath?: string
    trustCommand?: string
    connectTimeoutMs: number
    identities: Array<{path: string; privateKey: string; passphrase?: string; type: string; publicKeyBlob: string; fingerprint: string}>
  }
}

export type PersistMasterStatus = {ready: true; pid: number} | {error: {code: string; message: string; hint?: string}}

/** An error the other process reported (`{code, message, hint}`), as the error of that code here. */
export function errorFromWire(error: {code: string; message: string; hint?: string}): RestwireError {
  const known = Object.hasOwn(ERROR_CATALOGUE, error.code) && error.code !== 'RW_ERR_REMOTE_4XX' && error.code !== 'RW_ERR_REMOTE_5XX'
  const code = (known ? error.code : 'RW_ERR_INTERNAL') as Exclude<ErrorCode, 'RW_ERR_REMOTE_4XX' | 'RW_ERR_REMOTE_5XX'>
  return errorForCode(code, error.message, {hint: error.hint})
}
