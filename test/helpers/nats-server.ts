// A private nats-server (Debian's, 2.9) for the cluster tests: 127.0.0.1 on a free port, optional
// user/password, token, TLS or a configuration file; stop() and start() again on the same port to test an outage. Guard with skipWithout('nats-server').
import {type ChildProcess, spawn} from 'node:child_process'
import {createServer} from 'node:net'
import {tool} from './tools.js'

export interface NatsServer {
  url: string
  port: number
  /** The end of its log (slow consumers, disconnects), for a failing test's message. */
  log(): string
  /** Starts it again on the same port (after stop()). */
  start(): Promise<void>
  /** SIGKILL: the clients see their connection drop at once. */
  stop(): Promise<void>
  /** Messages the server received from its clients so far (its monitoring port's /varz; only with `monitor`). */
  inMsgs(): Promise<number>
  /** The running server's process id (for its CPU time in /proc). */
  pid(): number
}

/** A port free on 127.0.0.1 now (for a server that must be restarted on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}

export interface NatsServerOptions {
  user?: string
  pass?: string
  token?: string
  /** TLS for clients: the server's certificate and key (PEM files); clients then use tls://. */
  tls?: {cert: string; key: string}
  /** A configuration file for what has no command-line flag (operator/JWT mode: helpers/nats-operator.ts). */
  configFile?: string
  /** Open the monitoring port (HTTP, 127.0.0.1), for inMsgs(). */
  monitor?: boolean
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const port = await freePort()
  const monitor = options.monitor ? await freePort() : undefined
  let child: ChildProcess | undefined
  const args = [
    ...(options.configFile ? ['-c', options.configFile] : []),
    '-a', '127.0.0.1', '-p', String(port),
    ...(options.user ? ['--user', options.user, '--pass', options.pass ?? ''] : []),
    ...(options.token ? ['--auth', options.token] : []),
    ...(options.tls ? ['--tls', '--tlscert', options.tls.cert, '--tlskey', options.tls.key] : []),
    ...(monitor ? ['-m', String(monitor)] : []),
  ]
  let log = ''
  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const spawned = spawn(tool('nats-server'), args, {stdio: ['ignore', 'ignore', 'pipe']})
      child = spawned
      log = ''
      const timer = setTimeout(() => reject(new Error(`nats-server not ready in 10 s:\n${log}`)), 10_000)
      spawned.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes('Server is ready')) {
          clearTimeout(timer)
          resolve()
        }
      })
      spawned.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`nats-server exited (${code}):\n${log}`))
      })
    })
  const stop = async (): Promise<void> => {
    const running = child
    child = undefined
    if (!running || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGKILL')
    await exited
  }

  await start()
  const inMsgs = async (): Promise<number> => {
    if (!monitor) throw new Error('nats-server started without its monitoring port (monitor: true)')
    const response = await fetch(`http://127.0.0.1:${monitor}/varz`, {signal: AbortSignal.timeout(5000)})
    return ((await response.json()) as {in_msgs: number}).in_msgs
  }

  const pid = (): number => {
    if (child?.pid === undefined) throw new Error('nats-server is not running')
    return child.pid
  }

  return {inMsgs, log: () => log.slice(-4000), pid, port, start, stop, url: `${options.tls ? 'tls' : 'nats'}://127.0.0.1:${port}`}
}
