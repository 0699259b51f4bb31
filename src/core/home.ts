// The restwire home directory and the zero-config identities kept in it: a host key for servers and
// a client key that the local authorized_keys trusts, so `korv serve` + `korv call` work out of the box.
import {access, mkdir, readFile} from 'node:fs/promises'
import type * as Os from 'node:os'
import {isAbsolute, join} from 'node:path'
import {createFileExclusive, replaceFile} from './atomic-file.js'
import {errnoCode, RestwireError} from './errors.js'
import {fileErrorReason} from './fs-errors.js'
// Key generation and authorized_keys parsing (and node:crypto under them) are imported where used:
// every client command reads the home's paths, few of them make or check a key. node:os too: HOME is
// nearly always set, and loading node:os was 0.5 ms of every `korv call`'s start.
const os = (): typeof Os => process.getBuiltinModule('node:os') as typeof Os

export function restwireHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RESTWIRE_HOME) return env.RESTWIRE_HOME
  // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
  const xdg = env.XDG_CONFIG_HOME
  if (xdg && isAbsolute(xdg)) return join(xdg, 'restwire')
  return join(env.HOME || os().homedir(), '.config', 'restwire')
}

export interface LocalPaths {
  home: string
  /** The server's host key (`host_ed25519_key`, with `.pub`). */
  hostKey: string
  /** The client's identity (`id_ed25519`, with `.pub`). */
  clientKey: string
  /** Who may connect to local servers; authorizes `clientKey` by default. */
  authorizedKeys: string
  /** Host keys the client trusts. */
  knownHosts: string
}

export function localPaths(home: string = restwireHome()): LocalPaths {
  return {
    home,
    hostKey: join(home, 'host_ed25519_key'),
    clientKey: join(home, 'id_ed25519'),
    authorizedKeys: join(home, 'authorized_keys'),
    knownHosts: join(home, 'known_hosts'),
  }
}

export interface EnsureIdentityResult {
  /** Files and directories this call created. */
  created: string[]
}

/** Makes sure a server can start: the home, its host key, and an authorized_keys trusting the local client key. */
export async function ensureServerIdentity(paths: LocalPaths): Promise<EnsureIdentityResult> {
  const created: string[] = []
  await ensureHome(paths.home, created)
  await ensureKeyFile(paths.hostKey, 'restwire-host', created)
  const client = await ensureClientIdentity(paths)
  // A home whose authorized_keys is gone gets a new one trusting the local client key.
  if (!(await exists(paths.authorizedKeys))) await authorize(paths, created)
  return {created: [...new Set([...created, ...client.created])]}
}

/**
 * Makes sure the client key exists (ed25519, no passphrase). A key made here is added to the local
 * authorized_keys; an existing key is left alone, so that removing its line there revokes it.
 */
export async function ensureClientIdentity(paths: LocalPaths): Promise<EnsureIdentityResult> {
  const created: string[] = []
  await ensureHome(paths.home, created)
  await ensureKeyFile(paths.clientKey, 'restwire', created)
  if (created.includes(paths.clientKey)) await authorize(paths, created)
  return {created}
}

async function authorize(paths: LocalPaths, created: string[]): Promise<void> {
  const publicKey = await readKeyPublicLine(paths.clientKey)
  if (publicKey === undefined) throw new RestwireError('RW_ERR_KEY_FILE', `The key ${paths.clientKey} vanished while being created`)
  const {appendAuthorizedKey} = await import('./keys/ssh-key-pair.js')
  const authorized = await appendAuthorizedKey(paths.authorizedKeys, publicKey)
  if (authorized.created) created.push(paths.authorizedKeys)
}

/**
 * Whether the authorized_keys file lists the public half of the unencrypted key at `keyPath`; false
 * when either file is missing or unreadable (nothing to keep authorized then).
 */
export async function isKeyAuthorized(keyPath: string, authorizedKeysPath: string): Promise<boolean> {
  try {
    const {parseAuthorizedKeys} = await import('./ssh/authorized-keys.js')
    const line = await readKeyPublicLine(keyPath)
    const [key] = line === undefined ? [] : parseAuthorizedKeys(line).keys
    if (!key) return false
    return parseAuthorizedKeys(await readFile(authorizedKeysPath, 'utf8')).keys.some((entry) => entry.blob.equals(key.blob))
  } catch {
    return false
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

async function ensureHome(home: string, created: string[]): Promise<void> {
  try {
    const first = await mkdir(home, {recursive: true, mode: 0o700})
    if (first !== undefined) created.push(home)
  } catch (error) {
    throw new RestwireError('RW_ERR_CONFIG', `Cannot create the restwire home ${home}: ${fileErrorReason(error)}`, {
      cause: error,
      hint: 'Set RESTWIRE_HOME to a writable directory.',
      details: {path: home},
    })
  }
}

/**
 * Returns the public key line of the unencrypted key at `path`, generating an ed25519 key (commented
 * `user@this host`) first if there is none. When several processes race, exactly one key wins and all
 * of them return it.
 */
async function ensureKeyFile(path: string, user: string, created: string[]): Promise<string> {
  const existing = await readKeyPublicLine(path)
  if (existing !== undefined) return existing
  const {generateSshKeyPair} = await import('./keys/ssh-key-pair.js')
  const pair = await generateSshKeyPair({type: 'ed25519', comment: `${user}@${os().hostname()}`})
  try {
    if (await createFileExclusive(path, pair.privateKey, 0o600)) {
      await replaceFile(`${path}.pub`, pair.publicKey + '\n', 0o644)
      created.push(path, `${path}.pub`)
      return pair.publicKey
    }
  } catch (error) {
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot create the key ${path}: ${fileErrorReason(error)}`, {
      cause: error,
      details: {path},
    })
  }

  const winner = await readKeyPublicLine(path)
  if (winner === undefined) throw new RestwireError('RW_ERR_KEY_FILE', `The key ${path} vanished while being created`)
  return winner
}

async function readKeyPublicLine(path: string): Promise<string | undefined> {
  let data: Buffer
  try {
    data = await readFile(path)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot read the key ${path}: ${fileErrorReason(error)}`, {
      cause: error,
      details: {path},
    })
  }

  // The parse the key's loader (ssh/private-key.ts) then reuses.
  const {parseKeyData} = await import('./ssh/private-key.js')
  const parsed = await parseKeyData(data)
  if (parsed instanceof Error || !parsed.isPrivateKey()) {
    throw new RestwireError('RW_ERR_KEY_FILE', `${path} is not an unencrypted private key restwire can read`, {
      cause: parsed instanceof Error ? parsed : undefined,
      hint: 'restwire creates and uses this key without a passphrase. Move the file away and restwire makes a new one.',
      details: {path},
    })
  }

  const blob = parsed.getPublicSSH()
  return `${parsed.type} ${blob.toString('base64')}${parsed.comment ? ` ${parsed.comment}` : ''}`
}
