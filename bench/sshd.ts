// A private OpenSSH server for the bench's anchors: its own host key, client key, authorized_keys and
// config in a temp dir, on a free loopback port, stopped with the bench. Plus `ssh -L` / `ssh -R`
// forwards through it. Needs /usr/sbin/sshd (or $SSHD), ssh and ssh-keygen; absent, the cases are skipped.
import {execFile} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {type AddressInfo, connect, createServer} from 'node:net'
import {userInfo} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {findTool} from '../scripts/peer-tools.mjs'
import {exited, spawnTracked, stopChild} from './children.js'

const run = promisify(execFile)
const READY_TIMEOUT_MS = 15_000

export interface PrivateSshd {
  port: number
  /** Starts `ssh -N -L`/`-R` through this sshd; resolves once the forwarded port accepts connections. */
  forward(kind: 'L' | 'R', listenPort: number, targetPort: number): Promise<{stop(): Promise<void>}>
  stop(): Promise<void>
}

/** Why the OpenSSH cases cannot run here, or undefined when they can. */
export function sshdMissing(): string | undefined {
  const sshd = process.env.SSHD ?? '/usr/sbin/sshd'
  if (!existsSync(sshd)) return `no sshd at ${sshd} (set SSHD, or apt-get install openssh-server)`
  for (const name of ['ssh', 'ssh-keygen']) if (!findTool(name)) return `no ${name} (apt-get install openssh-client)`
  return undefined
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Resolves once 127.0.0.1:port accepts a TCP connection (polled: sshd and ssh say nothing when ready). */
async function waitForPort(port: number, what: string, alive: () => boolean): Promise<void> {
  for (const deadline = Date.now() + READY_TIMEOUT_MS; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (!alive()) throw new Error(`${what} exited before listening`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({host: '127.0.0.1', port})
      socket.once('connect', () => resolve(true)).once('error', () => resolve(false))
      socket.once('close', () => socket.destroy())
      setTimeout(() => socket.destroy(), 1000)
    }).catch(() => false)
    if (ok) return
  }

  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms`)
}

export async function startPrivateSshd(dir: string): Promise<PrivateSshd> {
  mkdirSync(dir, {recursive: true})
  const keygen = findTool('ssh-keygen')!
  await run(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')])
  await run(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')])
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')), {mode: 0o600})
  const port = await freePort()
  // Root's sshd insists on its privilege-separation directory; a package install would have made it.
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', {mode: 0o755})
  // StrictModes off: the temp dir's permissions are the bench's business. Run as any user: sshd not run
  // as root logs only that user in, which is who the forwards log in as.
  const config = [
    'ListenAddress 127.0.0.1',
    `Port ${port}`,
    `HostKey ${join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PidFile none',
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'AllowTcpForwarding yes',
    'MaxSessions 1000',
    'MaxStartups 1000',
    // FATAL: the readiness probe's bare TCP connect would otherwise log a kex error.
    'LogLevel FATAL',
  ].join('\n')
  writeFileSync(join(dir, 'sshd_config'), config + '\n')
  const sshd = spawnTracked(process.env.SSHD ?? '/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], {stdio: ['ignore', 'ignore', 'inherit']})
  const alive = (): boolean => sshd.exitCode === null && sshd.signalCode === null
  await waitForPort(port, 'sshd', alive)
  const user = userInfo().username
  const sshArgs = [
    '-F', '/dev/null', '-N', '-p', String(port), '-i', join(dir, 'client_key'),
    '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
    '-o', 'ExitOnForwardFailure=yes', '-o', 'LogLevel=ERROR',
  ]
  return {
    async forward(kind, listenPort, targetPort) {
      const ssh = spawnTracked(findTool('ssh')!, [...sshArgs, `-${kind}`, `127.0.0.1:${listenPort}:127.0.0.1:${targetPort}`, `${user}@127.0.0.1`], {stdio: ['ignore', 'ignore', 'inherit']})
      await waitForPort(listenPort, `ssh -${kind}`, () => ssh.exitCode === null && ssh.signalCode === null)
      return {stop: () => stopChild(ssh)}
    },
    port,
    async stop() {
      await stopChild(sshd)
      await exited(sshd)
    },
  }
}
