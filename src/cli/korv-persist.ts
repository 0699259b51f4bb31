// `korv call`'s persisted connection (--persist DURATION, --persist stop, a target's `persist:`): which
// socket a call's target maps to (core/korv/persist-socket.ts), using a live master there, starting one,
// stopping it.
import {fileURLToPath} from 'node:url'
import {RestwireError} from '../core/errors.js'
import type {KorvClientOptions} from '../core/korv/client.js'
import {type PersistedKorvClient, openPersisted, stopPersisted} from '../core/korv/persist-client.js'
import {
  type PersistMasterSpec,
  type PersistMasterStatus,
  ensurePersistDir,
  errorFromWire,
  type PersistSocket,
  readFirstLine,
} from '../core/korv/persist-socket.js'
import {formatHostPort} from '../core/address.js'

export {type PersistSocket, type PersistTargetOptions, persistSocketFor} from '../core/korv/persist-socket.js'

/** The master's Node start-up and its SSH handshake, beyond --connect-timeout. */
const MASTER_START_MARGIN_MS = 10_000

/** A channel through the live master of this target, or undefined (none, or a stale socket, removed). */
export async function usePersisted(socket: PersistSocket, maxInFlight: number, connectTimeoutMs: number): Promise<PersistedKorvClient | undefined> {
  const opened = await openPersisted(socket.socketPath, socket.key, {connectTimeoutMs, maxInFlight})
  return opened.state === 'open' ? opened.client : undefined
}

/**
 * Starts the master (detached, so it outlives this call) with this call's connection settings and keys,
 * and waits until it is connected and listening, or has failed (its error, as this call's).
 */
export async function startPersistMaster(socket: PersistSocket, idleMs: number, client: KorvClientOptions & {host: string; port: number; user: string; knownHostsPath: string}): Promise<number> {
  await ensurePersistDir(socket.home)
  const spec: PersistMasterSpec = {
    connect: {
      agent: client.agent,
      connectTimeoutMs: client.connectTimeoutMs ?? 10_000,
      host: client.host,
      hostKeyPolicy: client.hostKeyPolicy ?? 'strict',
      identities: (client.identities ?? []).map((identity) => ({
        fingerprint: identity.fingerprint,
        passphrase: identity.passphrase,
        path: identity.path,
        privateKey: identity.privateKey.toString('base64'),
        publicKeyBlob: identity.publicKeyBlob.toString('base64'),
        type: identity.type,
      })),
      knownHostsPath: client.knownHostsPath,
      localAuthorizedKeysPath: client.localAuthorizedKeysPath,
      port: client.port,
      trustCommand: client.trustCommand,
      user: client.user,
    },
    home: socket.home,
    idleMs,
    key: socket.key,
    socketPath: socket.socketPath,
  }
  // The bundles (dist/*.cjs) sit beside dist/korv-master.js; the unbundled modules one level down.
  const here = import.meta.url
  const entry = new URL(here.endsWith('.cjs') ? './korv-master.js' : '../korv-master.js', here)
  // Loaded here: only a call that starts a master needs it.
  const {spawn} = await import('node:child_process')
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(entry)], {detached: true, stdio: ['pipe', 'pipe', 'ignore']})
  child.stdin.on('error', () => {})
  child.stdin.end(JSON.stringify(spec) + '\n')
  const deadline = (client.connectTimeoutMs ?? 10_000) + MASTER_START_MARGIN_MS
  let timer: NodeJS.Timeout | undefined
  try {
    const line = await Promise.race([
      readFirstLine(child.stdout),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RestwireError('RW_ERR_TIMEOUT', `the persisted connection to ${formatHostPort(client.host, client.port)} did not start within ${deadline} ms`)), deadline)
      }),
    ])
    const status = JSON.parse(line) as PersistMasterStatus
    if ('error' in status) throw errorFromWire(status.error)

    return status.pid
  } catch (error) {
    child.kill()
    if (error instanceof RestwireError) throw error
    throw new RestwireError('RW_ERR_CONNECT', `the persisted connection's process exited before it was ready: ${(error as Error).message}`, {cause: error})
  } finally {
    clearTimeout(timer)
    child.stdout.destroy()
    child.unref()
  }
}

/** `--persist stop`: ends this target's master, if one runs. Says what it did on stderr. */
export async function stopPersist(socket: PersistSocket, address: string): Promise<void> {
  const pid = await stopPersisted(socket.socketPath, socket.key)
  process.stderr.write(pid === undefined ? `no persisted connection to ${address}\n` : `stopped the persisted connection to ${address} (pid ${pid})\n`)
}
