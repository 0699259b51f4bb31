// Runs the built CLI (bin/run.js) in child processes: one-shot commands and long-running servers.
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'

export const root = fileURLToPath(new URL('../..', import.meta.url))

/**
 * JavaScript that loads one of dist/'s fast-path bundles (korv-call-persisted.cjs, korv-call-cold.cjs,
 * ssh2-client.cjs) in a child: they are written inside Node's module wrapper and load through the code
 * cache's loader only (scripts/bundle.mjs).
 */
export function requireBundleCode(name: string): string {
  const file = JSON.stringify(join(root, 'dist', name))
  const load = `require(${JSON.stringify(join(root, 'dist', 'code-cache.cjs'))}).requireWithCodeCache(${file})`
  // Once per process, as require() would: several modules of a bundle may ask for ssh2-client.cjs.
  return `((globalThis.rwTestBundles ??= new Map()).get(${file}) ?? globalThis.rwTestBundles.set(${file}, ${load}).get(${file}))`
}

const bin = join(root, 'bin', 'run.js')
/** How to start the CLI: argv before the command's own arguments. Default: this clone's bin/run.js under this Node. */
const cloneCli = [process.execPath, bin]

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export function restwire(args: string[], env: Record<string, string>, input?: string, cli = cloneCli): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cli[0]!, [...cli.slice(1), ...args], {cwd: root, env: {...process.env, ...env}, timeout: 60_000}, (error, stdout, stderr) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stderr, stdout})
    })
    child.stdin?.end(input ?? '')
  })
}

export interface CliProcess {
  child: ChildProcess
  /** Every stderr line so far (the JSON log). */
  stderr: string[]
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  /** The first stderr line from index `from` on that matches; rejects if the process exits first. */
  waitForLine(pattern: RegExp, from?: number): Promise<string>
  /** The same line, parsed as JSON. */
  waitForLog(pattern: RegExp, from?: number): Promise<Record<string, unknown>>
  /** Sends a signal (unless it has exited) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts `restwire ...args` (a long-running command with `--log-format json`) and follows its stderr. */
export function spawnCli(args: string[], env: Record<string, string> = {}, cli = cloneCli): CliProcess {
  const child = spawn(cli[0]!, [...cli.slice(1), ...args], {cwd: root, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
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
  const waitForLine = async (pattern: RegExp, from = 0): Promise<string> => {
    for (;;) {
      const line = stderr.slice(from).find((entry) => pattern.test(entry))
      if (line) return line
      if (done) throw new Error(`restwire ${args.slice(0, 2).join(' ')} exited before logging ${pattern}:\n${stderr.join('\n')}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }

  return {
    child,
    exited,
    stderr,
    async stop(signal = 'SIGTERM') {
      if (!done) child.kill(signal)
      return exited
    },
    waitForLine,
    waitForLog: async (pattern, from) => JSON.parse(await waitForLine(pattern, from)) as Record<string, unknown>,
  }
}

export interface ServeProcess extends CliProcess {
  port: number
}

/** Starts `restwire korv serve --log-format json --listen 0 ...args` and waits until it listens. */
export async function startServe(args: string[], env: Record<string, string>, cli = cloneCli): Promise<ServeProcess> {
  const serve = spawnCli(['korv', 'serve', '--listen', '0', '--log-format', 'json', ...args], env, cli)
  const listening = await serve.waitForLog(/"event":"listening"/)
  return {...serve, port: listening.port as number}
}
