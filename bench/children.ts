// Every child process and temp dir the bench makes, so that a normal end, an error or Ctrl-C all leave
// nothing behind.
import {type ChildProcess, type SpawnOptions, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let installed = false

export function makeTempDir(prefix: string): string {
  installCleanup()
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

export function removeTempDir(dir: string): void {
  rmSync(dir, {force: true, recursive: true})
  tempDirs.delete(dir)
}

/**
 * Variables that slow Node's own start, before any JavaScript: NODE_EXTRA_CA_CERTS makes Node 20 read
 * and parse the whole file at start (a system CA bundle: 40-45 ms here, where `node -e 0` takes 65 ms
 * without it), NODE_OPTIONS can add anything. Set in a machine's environment, they pad both sides of a
 * start-up ratio alike and hide what restwire adds, so the start-up cases run without them.
 */
export const STARTUP_ENV_REMOVED = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'] as const

/** The environment of the start-up cases: this process's, without STARTUP_ENV_REMOVED, with `extra`. */
export function startupEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = {...process.env, ...extra}
  for (const name of STARTUP_ENV_REMOVED) delete env[name]
  return env
}

/** The STARTUP_ENV_REMOVED variables this process has (and the start-up cases do not), for the report. */
export function startupEnvRemoved(): string[] {
  return STARTUP_ENV_REMOVED.filter((name) => process.env[name] !== undefined)
}

/** ", run without NODE_EXTRA_CA_CERTS (set here)" for a start-up case's heading, or nothing. */
export function withoutNote(removed: string[]): string {
  return removed.length === 0 ? '' : `, run without ${removed.join(' and ')} (set here)`
}

/** spawn() whose child is killed by cleanup() if it is still running. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  installCleanup()
  const child = spawn(command, args, options)
  children.add(child)
  child.once('exit', () => children.delete(child))
  child.once('error', () => children.delete(child))
  return child
}

/** Resolves with the exit code (or signal name) once the child has exited. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode)
  if (child.signalCode !== null) return Promise.resolve(child.signalCode)
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const done = exited(child)
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await done
  clearTimeout(timer)
}

/** Synchronous, so it also works from the 'exit' event. */
export function cleanup(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }

  children.clear()
  for (const dir of tempDirs) rmSync(dir, {force: true, recursive: true})
  tempDirs.clear()
}

function installCleanup(): void {
  if (installed) return
  installed = true
  process.once('exit', cleanup)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`)
      cleanup()
      process.exit(130)
    })
  }
}

/** Reads the port from the JSON "listening" line; keeps draining stderr (one log line per request) after. */
export function listeningPort(stderr: NodeJS.ReadableStream): Promise<number> {
  let text = ''
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString()
      const match = /"port":(\d+)/.exec(text)
      if (!match) return
      stderr.off('data', onData).on('data', () => {})
      resolve(Number(match[1]))
    }

    stderr.on('data', onData)
    stderr.once('end', () => reject(new Error(`korv serve exited before listening:\n${text}`)))
  })
}
