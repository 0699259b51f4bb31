// Runs the built CLI (bin/run.js) in child processes: one-shot commands and long-running servers.
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'

export const root = fileURLToPath(new URL('../..', import.meta.url))
const bin = join(root, 'bin', 'run.js')

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export function restwire(args: string[], env: Record<string, string>, input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], {cwd: root, env: {...process.env, ...env}, timeout: 60_000}, (error, stdout, stderr) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stderr, stdout})
    })
    child.stdin?.end(input ?? '')
  })
}

export interface ServeProcess {
  child: ChildProcess
  port: number
  /** Every stderr line so far (the request log). */
  stderr: string[]
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
  waitForLog(pattern: RegExp): Promise<string>
}

/** Starts `restwire korv serve --log-format json --port 0 ...args` and waits until it listens. */
export async function startServe(args: string[], env: Record<string, string>): Promise<ServeProcess> {
  const child = spawn(process.execPath, [bin, 'korv', 'serve', '--port', '0', '--log-format', 'json', ...args], {
    cwd: root,
    env: {...process.env, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stderr: string[] = []
  const waiters: Array<() => void> = []
  createInterface({input: child.stderr!}).on('line', (line) => {
    stderr.push(line)
    for (const waiter of waiters.splice(0)) waiter()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let done = false
  void exited.then(() => {
    done = true
    for (const waiter of waiters.splice(0)) waiter()
  })
  const waitForLog = async (pattern: RegExp): Promise<string> => {
    for (;;) {
      const line = stderr.find((entry) => pattern.test(entry))
      if (line) return line
      if (done) throw new Error(`korv serve exited before logging ${pattern}:\n${stderr.join('\n')}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }

  const listening = JSON.parse(await waitForLog(/"event":"listening"/)) as {port: number}
  return {
    child,
    port: listening.port,
    stderr,
    async stop(signal = 'SIGTERM') {
      if (!done) child.kill(signal)
      return exited
    },
    waitForLog,
  }
}
