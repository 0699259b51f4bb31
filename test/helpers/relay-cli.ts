// Runs `restwire relay start` from the built CLI in a child process and follows its JSON log lines.
import {type ChildProcess, spawn} from 'node:child_process'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {root} from './cli.js'

export interface RelayProcess {
  child: ChildProcess
  /** The address from its "listening" line: tcp://127.0.0.1:PORT or unix:/path. */
  address: string
  stderr: string[]
  waitForLog(pattern: RegExp, after?: number): Promise<string>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts `relay start --log-format json ...args`; resolves once it listens, rejects if it exits first. */
export async function startRelayCli(args: string[], env: Record<string, string> = {}): Promise<RelayProcess> {
  const child = spawn(process.execPath, [join(root, 'bin', 'run.js'), 'relay', 'start', '--log-format', 'json', ...args], {
    cwd: root,
    env: {...process.env, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stderr: string[] = []
  const waiters: Array<() => void> = []
  const wake = (): void => {
    for (const waiter of waiters.splice(0)) waiter()
  }

  createInterface({input: child.stderr!}).on('line', (line) => {
    stderr.push(line)
    wake()
  })
  let done = false
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  void exited.then(() => {
    done = true
    wake()
  })
  /** The first line matching pattern at index `after` or later. */
  const waitForLog = async (pattern: RegExp, after = 0): Promise<string> => {
    for (;;) {
      const line = stderr.slice(after).find((entry) => pattern.test(entry))
      if (line) return line
      if (done) throw new Error(`relay start exited before logging ${pattern}:\n${stderr.join('\n')}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }

  const listening = JSON.parse(await waitForLog(/"event":"listening"/)) as {address: string}
  return {
    address: listening.address,
    child,
    stderr,
    async stop(signal = 'SIGTERM') {
      if (!done) child.kill(signal)
      return exited
    },
    waitForLog,
  }
}
