// Starts `restwire tunnel expose` (the built CLI) in a child process and follows its JSON log on stderr.
import {type ChildProcess, spawn} from 'node:child_process'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {root} from './cli.js'

export interface ExposeProcess {
  child: ChildProcess
  /** Every stderr line so far. */
  stderr: string[]
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  waitForLog(pattern: RegExp): Promise<Record<string, unknown>>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export function startExpose(args: string[], env: Record<string, string>): ExposeProcess {
  const child = spawn(process.execPath, [join(root, 'bin', 'run.js'), 'tunnel', 'expose', '--log-format', 'json', ...args], {
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
  let done = false
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  void exited.then(() => {
    done = true
    for (const waiter of waiters.splice(0)) waiter()
  })
  return {
    child,
    exited,
    stderr,
    async stop(signal = 'SIGTERM') {
      if (!done) child.kill(signal)
      return exited
    },
    async waitForLog(pattern) {
      for (;;) {
        const line = stderr.find((entry) => pattern.test(entry))
        if (line) return JSON.parse(line) as Record<string, unknown>
        if (done) throw new Error(`tunnel expose exited before logging ${pattern}:\n${stderr.join('\n')}`)
        await new Promise<void>((resolve) => waiters.push(resolve))
      }
    },
  }
}
