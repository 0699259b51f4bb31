// Writes that other processes never see half done: exclusive creation, atomic replacement, and a
// small lock file for read-modify-append sequences (`restwire korv serve` and `korv call` may start
// at the same moment and both set up the same restwire home).
import {constants as fsConstants} from 'node:fs'
import {link, open, rename, stat, unlink} from 'node:fs/promises'
import {setTimeout as sleep} from 'node:timers/promises'
import {errnoCode, RestwireError} from './errors.js'

const LOCK_STALE_MS = 10_000
const LOCK_WAIT_MS = 15_000
const LOCK_POLL_MS = 20

async function writeTemp(path: string, data: string | Buffer, mode: number): Promise<string> {
  // Loaded here: node:crypto is a few ms of every start of a command that only reads the home.
  const {randomBytes} = await import('node:crypto')
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode)
  try {
    // The mode given to open() is filtered by the umask; set it exactly.
    await handle.chmod(mode)
    await handle.writeFile(data)
    await handle.sync()
  } catch (error) {
    await handle.close()
    await unlink(temp).catch(() => {})
    throw error
  }

  await handle.close()
  return temp
}

/**
 * Creates `path` with `data` unless it exists. Returns false when it already existed. The file
 * appears complete or not at all: it is written and synced under a temporary name, then hard-linked
 * into place, and link() fails with EEXIST instead of replacing.
 */
export async function createFileExclusive(path: string, data: string | Buffer, mode: number): Promise<boolean> {
  const temp = await writeTemp(path, data, mode)
  try {
    await link(temp, path)
    return true
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false
    // Some file systems (FAT, some network mounts) have no hard links: fall back to O_EXCL.
    if (['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(errnoCode(error) ?? '')) {
      return createWithExclusiveOpen(path, data, mode)
    }

    throw error
  } finally {
    await unlink(temp).catch(() => {})
  }
}

async function createWithExclusiveOpen(path: string, data: string | Buffer, mode: number): Promise<boolean> {
  let handle
  try {
    handle = await open(path, 'wx', mode)
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false
    throw error
  }

  try {
    await handle.chmod(mode)
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }

  return true
}

/** Replaces (or creates) `path` atomically with a file of exactly `mode`. */
export async function replaceFile(path: string, data: string | Buffer, mode: number): Promise<void> {
  const temp = await writeTemp(path, data, mode)
  try {
    await rename(temp, path)
  } catch (error) {
    await unlink(temp).catch(() => {})
    throw error
  }
}

const inProcessLocks = new Map<string, Promise<unknown>>()

/**
 * Runs `fn` while holding `<path>.lock`: serialised within this process by a promise chain, and
 * across processes by the lock file's exclusive creation. A lock file older than LOCK_STALE_MS is
 * left over from a crashed process and is removed.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const previous = inProcessLocks.get(path) ?? Promise.resolve()
  const run = previous.catch(() => {}).then(async () => {
    const lockPath = `${path}.lock`
    await acquireLockFile(lockPath)
    try {
      return await fn()
    } finally {
      await unlink(lockPath).catch(() => {})
    }
  })
  const settled = run.catch(() => {})
  inProcessLocks.set(path, settled)
  try {
    return await run
  } finally {
    if (inProcessLocks.get(path) === settled) inProcessLocks.delete(path)
  }
}

async function acquireLockFile(lockPath: string): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o600)
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      return
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error
    }

    const lockStat = await stat(lockPath).catch(() => undefined)
    if (lockStat && Date.now() - lockStat.mtimeMs > LOCK_STALE_MS) {
      await unlink(lockPath).catch(() => {})
      continue
    }

    if (Date.now() > deadline) {
      throw new RestwireError('RW_ERR_KEY_FILE', `Timed out waiting for the lock file ${lockPath}`, {
        hint: 'If no other restwire process is running, delete the lock file.',
        details: {lockPath},
      })
    }

    await sleep(LOCK_POLL_MS)
  }
}
