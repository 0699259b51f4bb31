// Test helpers: temp directories cleaned up after the suite, and the real OpenSSH tools.
import {execFile} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before} from 'node:test'
import {promisify} from 'node:util'
import {tool} from './tools.js'

const execFileAsync = promisify(execFile)

/**
 * Call in a describe() body: a fresh directory under the OS temp dir for that suite, made before
 * its tests and removed after them. Returns a getter for the path.
 */
export function useTempDir(prefix = 'restwire-test-'): () => string {
  let dir: string | undefined
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix))
  })
  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })
  return () => {
    if (!dir) throw new Error('useTempDir(): the directory exists only while the suite runs')
    return dir
  }
}

/** Runs ssh-keygen (never interactive: stdin is closed) and returns its stdout; guard with skipWithout('ssh-keygen'). */
export async function sshKeygen(...args: string[]): Promise<string> {
  const {stdout} = await execFileAsync(tool('ssh-keygen'), args, {timeout: 60_000})
  return stdout
}

/** `ssh-keygen -t TYPE -N PASSPHRASE -f DIR/NAME [extra...]`, returning the key's path. */
export async function makeKeyWithSshKeygen(
  dir: string,
  name: string,
  type: string,
  options: {passphrase?: string; extra?: string[]} = {},
): Promise<string> {
  const path = join(dir, name)
  const {passphrase = '', extra = []} = options
  await sshKeygen('-q', '-t', type, '-N', passphrase, '-C', `${name}@test`, '-f', path, ...extra)
  return path
}
