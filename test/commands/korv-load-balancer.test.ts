// korv serve holds no state between requests, so several instances can sit behind a TCP load balancer
// (docs/korv.md, "Several servers behind a load balancer"): with the same host key and authorized_keys,
// one known_hosts line for the balancer's address is good for every instance. Real haproxy in TCP mode
// in front of real `korv serve` processes; a third instance with another host key shows why the key
// must be shared.
import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {type AddressInfo, createServer} from 'node:net'
import {createInterface} from 'node:readline'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type ServeProcess, restwire, startServe} from '../helpers/cli.js'
import {makeKorvKeys} from '../helpers/korv-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * Starts haproxy in master-worker mode in the foreground; resolves once it says "Loading success.",
 * which the master prints after binding every frontend and forking its worker.
 */
async function startHaproxy(config: string): Promise<{child: ChildProcess; stop(): Promise<void>}> {
  const child = spawn(tool('haproxy'), ['-W', '-db', '-f', config], {stdio: ['ignore', 'ignore', 'pipe']})
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const log: string[] = []
  await new Promise<void>((resolve, reject) => {
    createInterface({input: child.stderr!}).on('line', (line) => {
      log.push(line)
      if (line.includes('Loading success.')) resolve()
    })
    void exited.then(() => reject(new Error(`haproxy exited before listening:\n${log.join('\n')}`)))
  })
  return {
    child,
    // SIGTERM: the master stops its worker too (a SIGKILLed master would leave the worker running).
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

describe('korv serve behind haproxy (TCP mode)', {skip: skipWithout('haproxy'), timeout: 120_000}, () => {
  const dir = useTempDir('restwire-korv-lb-')
  const servers: ServeProcess[] = []
  let haproxy: Awaited<ReturnType<typeof startHaproxy>> | undefined
  let keys: Awaited<ReturnType<typeof makeKorvKeys>>
  let knownHosts: string
  let samePort: number
  let mixedPort: number
  const instances: Record<string, ServeProcess> = {}

  before(async () => {
    keys = await makeKorvKeys(dir())
    await mkdir(join(dir(), 'other'))
    const other = await makeKorvKeys(join(dir(), 'other'))
    const serve = async (name: string, hostKey: string): Promise<ServeProcess> => {
      const server = await startServe(['--demo', '--host-key', hostKey, '--authorized-keys', keys.authorizedKeysPath], {RESTWIRE_HOME: join(dir(), `home-${name}`)})
      servers.push(server)
      instances[name] = server
      return server
    }

    const [a, b, c] = [await serve('a', keys.hostKeyPath), await serve('b', keys.hostKeyPath), await serve('c', other.hostKeyPath)]
    samePort = await freePort()
    mixedPort = await freePort()
    const config = join(dir(), 'haproxy.cfg')
    await writeFile(
      config,
      `global
  maxconn 100
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend same
  bind 127.0.0.1:${samePort}
  default_backend same
backend same
  balance roundrobin
  server a 127.0.0.1:${a!.port}
  server b 127.0.0.1:${b!.port}
frontend mixed
  bind 127.0.0.1:${mixedPort}
  default_backend mixed
backend mixed
  balance roundrobin
  server a 127.0.0.1:${a!.port}
  server c 127.0.0.1:${c!.port}
`,
    )
    haproxy = await startHaproxy(config)
    // One line per balancer address, with the shared host key: what a client records on first use.
    const hostPublic = (await readFile(`${keys.hostKeyPath}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ')
    knownHosts = join(dir(), 'client_known_hosts')
    await writeFile(knownHosts, `[127.0.0.1]:${samePort} ${hostPublic}\n[127.0.0.1]:${mixedPort} ${hostPublic}\n`)
  })
  after(async () => {
    await haproxy?.stop()
    for (const server of servers) await server.stop('SIGKILL')
  })

  const call = (port: number) => restwire(['korv', 'call', 'GET', '/hello', '--to', `127.0.0.1:${port}`, '-i', keys.clientKeyPath, '--known-hosts', knownHosts], {})
  const served = (name: string): number => instances[name]!.stderr.filter((line) => line.includes('/hello')).length

  it('the same host key and authorized_keys: one known_hosts line works for both instances', async () => {
    const before = await readFile(knownHosts, 'utf8')
    for (let i = 0; i < 4; i++) {
      const result = await call(samePort)
      assert.equal(result.code, 0, result.stderr)
    }

    // Round robin over new TCP connections: each instance answered some of the calls.
    assert.ok(served('a') >= 1 && served('b') >= 1, `a served ${served('a')}, b served ${served('b')}`)
    assert.equal(await readFile(knownHosts, 'utf8'), before, 'known_hosts unchanged')
  })

  it('an instance with another host key is refused as a changed host key (exit 6)', async () => {
    const codes: number[] = []
    for (let i = 0; i < 4; i++) {
      const result = await call(mixedPort)
      codes.push(result.code)
      if (result.code !== 0) assert.match(result.stderr, /RW_ERR_HOST_KEY_CHANGED/)
    }

    assert.ok(codes.includes(0) && codes.includes(6), `exit codes ${codes.join(', ')}`)
    assert.equal(served('c'), 0, 'the client never sent a request to the impostor')
  })
})
