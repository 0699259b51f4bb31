// Runs long-lived `restwire pipe serve` / `pipe connect` processes for tests and follows their JSON logs.
import {type ChildProcess, spawn} from 'node:child_process'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {root} from './cli.js'

export interface PipeProcess {
  child: ChildProcess
  /** Every stderr line so far. */
  lines: string[]
  /** The first log line (from index `from` on) that matches, as parsed JSON. */
  waitForLog(pattern: RegExp, from?: number): Promise<Record<string, unknown>>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export async function startPipeProcess(args: string[], ready: RegExp): Promise<PipeProcess> {
  const child = spawn(process.execPath, [join(root, 'bin', 'run.js'), 'pipe', ...args, '--log-format', 'json'], {cwd: root, stdio: ['ignore', 'pipe', 'pipe']})
  const lines: string[] = []
  const waiters: Array<() => void> = []
  let exited = false
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  void exit.then(() => {
    exited = true
    for (const wake of waiters.splice(0)) wake()
  })
  createInterface({input: child.stderr!}).on('line', (line) => {
    lines.push(line)
    for (const wake of waiters.splice(0)) wake()
  })
  const waitForLog = async (pattern: RegExp, from = 0): Promise<Record<string, unknown>> => {
    for (;;) {
      const line = lines.slice(from).find((entry) => pattern.test(entry))
      if (line) return JSON.parse(line) as Record<string, unknown>
      if (exited) throw new Error(`restwire pipe ${args[0]} exited before logging ${pattern}:\n${lines.join('\n')}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }

  await waitForLog(ready)
  return {
    child,
    lines,
    async stop(signal = 'SIGTERM') {
      if (!exited) child.kill(signal)
      return exit
    },
    waitForLog,
  }
}
