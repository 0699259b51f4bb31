// Python protocol peers (test/fixtures/*/) run on Debian's asyncssh: start one and read its stdout as
// events. Suites guard with skipWithout('python3-asyncssh') (test/helpers/tools.ts).
import {type ChildProcess, spawn} from 'node:child_process'
import {join} from 'node:path'
import {tool} from './tools.js'

/** Upper bound for one Python peer run; needing it is a failure (a hang), never a timing check. */
export const PEER_TIMEOUT_MS = 60_000

export type PeerEvent = {event: string} & Record<string, unknown>

export interface PeerRun {
  child: ChildProcess
  events: PeerEvent[]
  /** Resolves with the first event (already seen or still to come) that matches; rejects if the peer exits first. */
  waitFor(match: (event: PeerEvent) => boolean): Promise<PeerEvent>
  /** Always resolves: on exit, or after PEER_TIMEOUT_MS with the peer killed and `timedOut` set. */
  exited: Promise<{code: number | null; stderr: string; timedOut: boolean}>
}

const running = new Set<ChildProcess>()

/** For after hooks: kills every peer still running. */
export function killPythonPeers(): void {
  for (const child of running) child.kill('SIGKILL')
}

/**
 * Runs `dir/script`. Stdout lines that are JSON objects become events; `LISTENING <port>` becomes
 * {event: 'listening', port} and `CONNECTED` becomes {event: 'CONNECTED'}.
 */
export function runPythonPeer(dir: string, script: string, args: string[]): PeerRun {
  // PYTHONWARNINGS: Debian's asyncssh imports ciphers that newer cryptography flags as deprecated.
  // The first python3 on PATH that imports asyncssh (the system one, not a pyenv or venv python3 without it).
  const child = spawn(tool('python3-asyncssh'), [join(dir, script), ...args], {env: {...process.env, PYTHONWARNINGS: 'ignore'}, stdio: ['ignore', 'pipe', 'pipe']})
  running.add(child)
  const events: PeerEvent[] = []
  const watchers = new Set<() => void>()
  let stdout = ''
  let stderr = ''
  let gone = false
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    let newline
    while ((newline = stdout.indexOf('\n')) !== -1) {
      const line = stdout.slice(0, newline)
      stdout = stdout.slice(newline + 1)
      const listening = /^LISTENING (\d+)$/.exec(line)
      if (listening) events.push({event: 'listening', port: Number(listening[1])})
      else if (line === 'CONNECTED') events.push({event: 'CONNECTED'})
      else events.push(JSON.parse(line) as PeerEvent)
    }

    for (const watcher of watchers) watcher()
  })
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<{code: number | null; stderr: string; timedOut: boolean}>((resolve) => {
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, PEER_TIMEOUT_MS)
    const finish = (code: number | null): void => {
      clearTimeout(timer)
      running.delete(child)
      gone = true
      for (const watcher of watchers) watcher()
      resolve({code, stderr, timedOut})
    }

    child.once('error', (error) => {
      stderr += `spawn failed: ${error.message}`
      finish(null)
    })
    child.once('close', finish)
  })
  return {
    child,
    events,
    exited,
    waitFor: (match) =>
      new Promise<PeerEvent>((resolve, reject) => {
        const check = (): void => {
          const found = events.find(match)
          if (found) {
            watchers.delete(check)
            resolve(found)
          } else if (gone) {
            watchers.delete(check)
            reject(new Error(`${script} exited before the expected event; stderr: ${stderr}`))
          }
        }

        watchers.add(check)
        check()
      }),
  }
}
