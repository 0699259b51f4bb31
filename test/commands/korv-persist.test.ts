// `korv call --persist`: the built CLI against `korv serve`, through a TCP proxy in this process that
// counts the SSH connections the server gets; the master is a real background process.
import assert from 'node:assert/strict'
import {existsSync, readFileSync, readdirSync, statSync} from 'node:fs'
import {chmod, rm, writeFile} from 'node:fs/promises'
import {type AddressInfo, type Server, type Socket, connect, createConnection, createServer} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type ServeProcess, restwire, startServe} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {KORV_CALL_DEFAULT_USER} from '../../src/cli/korv-call-argv.js'
import {openPersisted} from '../../src/core/korv/persist-client.js'
import {persistKey, persistSocketPath} from '../../src/core/korv/persist-socket.js'
import {waitFor} from '../helpers/wait.js'

/** Forwards to the korv server and counts connections (each one an SSH connection of a client). */
async function startCountingProxy(target: number): Promise<{port: number; connections: () => number; close(): void}> {
  let count = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    count++
    const upstream = connect(target, '127.0.0.1')
    for (const end of [socket, upstream]) {
      sockets.add(end)
      end.on('error', () => {})
      end.on('close', () => sockets.delete(end))
    }

    socket.pipe(upstream).pipe(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    close: () => {
      server.close()
      for (const socket of sockets) socket.destroy()
    },
    connections: () => count,
    port: (server.address() as AddressInfo).port,
  }
}

const pidOf = (trace: string): number => Number(/persisted connection .*\(pid (\d+)/.exec(trace)?.[1])
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('restwire korv call --persist', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let serve: ServeProcess
  let proxy: Awaited<ReturnType<typeof startCountingProxy>>
  let to: string
  const masters = new Set<number>()
  const call = async (...args: string[]): Promise<Awaited<ReturnType<typeof restwire>>> => {
    const result = await restwire(['korv', 'call', '--to', to, ...args], env)
    const pid = pidOf(result.stderr)
    if (pid) masters.add(pid)
    return result
  }

  const socketsIn = (): string[] => readdirSync(join(env.RESTWIRE_HOME!, 'persist')).filter((name) => name.endsWith('.sock'))

  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home')}
    const routes = join(dir(), 'routes.mjs')
    // GET /slow says it has started (a file), then answers after 20 s: a call in flight to kill the master under.
    await writeFile(
      routes,
      `import {appendFileSync, writeFileSync} from 'node:fs'
export default {
  'GET /hello': () => ({msg: 'hi'}),
  'GET /big': () => ({big: 'x'.repeat(600000)}),
  'STORE /hit': () => { appendFileSync(${JSON.stringify(join(dir(), 'hits'))}, 'x'); return {hit: true} },
  'GET /slow': () => { writeFileSync(${JSON.stringify(join(dir(), 'slow-started'))}, ''); return new Promise((resolve) => setTimeout(() => resolve({slow: true}), 20000)) },
}
`,
    )
    serve = await startServe(['--routes', routes], env)
    proxy = await startCountingProxy(serve.port)
    to = `127.0.0.1:${proxy.port}`
  })
  after(async () => {
    for (const pid of masters) if (alive(pid)) process.kill(pid, 'SIGKILL')
    proxy?.close()
    await serve?.stop('SIGKILL')
  })

  it('keeps one SSH connection for many calls, in a 0700 directory on a 0600 socket', async () => {
    const first = await call('GET', '/hello', '--persist', '60s', '-v')
    assert.equal(first.code, 0, first.stderr)
    assert.equal(first.stdout, '{"msg":"hi"}\n')
    assert.match(first.stderr, /Started the persisted connection \(pid \d+/)
    for (let n = 0; n < 4; n++) {
      const again = await call('GET', '/hello', '-v')
      assert.equal(again.code, 0, again.stderr)
      assert.equal(again.stdout, '{"msg":"hi"}\n')
      assert.match(again.stderr, /Using the persisted connection/)
      assert.doesNotMatch(again.stderr, /Server host key/, 'no handshake of its own')
    }

    assert.equal(proxy.connections(), 1, 'the server saw one SSH connection for five calls')
    const persistDir = join(env.RESTWIRE_HOME!, 'persist')
    assert.equal(statSync(persistDir).mode & 0o777, 0o700)
    const [socket] = socketsIn()
    assert.ok(socket)
    assert.equal(statSync(join(persistDir, socket)).mode & 0o777, 0o600)
  })

  it('serves concurrent calls through the one master', async () => {
    const before = proxy.connections()
    const results = await Promise.all(Array.from({length: 12}, (_, n) => call('STORE', '/nope', '--json').then((r) => ({n, r}))))
    for (const {r} of results) {
      assert.equal(r.code, 8, r.stderr)
      assert.equal(JSON.parse(r.stdout).status, 404)
    }

    assert.equal(proxy.connections(), before)
  })

  it('survives a client that sends garbage, or nothing, on its socket', async () => {
    const socketPath = join(env.RESTWIRE_HOME!, 'persist', socketsIn()[0]!)
    for (const payload of ['not json\n', '{"protocol":"restwire-korv-persist/1","key":"x","op":"call"}\n', 'x'.repeat(10_000), '']) {
      const client = createConnection(socketPath)
      client.on('error', () => {})
      await new Promise<void>((resolve) => client.once('connect', resolve))
      client.resume()
      client.end(payload)
      await new Promise<void>((resolve) => client.once('close', () => resolve()))
    }

    const before = proxy.connections()
    const result = await call('GET', '/hello')
    assert.equal(result.code, 0, result.stderr)
    assert.equal(proxy.connections(), before, 'the master still serves')
  })

  it('passes on a request sent with the hello only when it takes the hello (not for another target)', async () => {
    const home = env.RESTWIRE_HOME!
    const socketPath = join(home, 'persist', socketsIn()[0]!)
    const key = persistKey({host: '127.0.0.1', identities: [], knownHostsPath: join(home, 'known_hosts'), port: proxy.port, user: KORV_CALL_DEFAULT_USER, verifyHostKey: true})
    assert.equal(persistSocketPath(home, key), socketPath, 'the key of the calls above')
    const first = {body: null, resource: '/hit', verb: 'STORE'}
    const refused = await openPersisted(socketPath, `${key} `, {first, maxInFlight: 1})
    assert.equal(refused.state, 'absent')
    const taken = await openPersisted(socketPath, key, {first, maxInFlight: 1})
    assert.equal(taken.state, 'open')
    if (taken.state !== 'open') return
    const response = await taken.response!
    await taken.client.close()
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, {hit: true})
    assert.ok(taken.client.masterPid > 0)
    assert.equal(readFileSync(join(dir(), 'hits'), 'utf8'), 'x', 'one request reached the server: the one the master took')
  })

  it('prints a large answer whole before it exits, through the master and cold (a pipe that fills)', async () => {
    const expected = JSON.stringify({big: 'x'.repeat(600_000)}) + '\n'
    const persisted = await call('GET', '/big')
    assert.equal(persisted.code, 0, persisted.stderr)
    assert.equal(persisted.stdout.length, expected.length)
    assert.equal(persisted.stdout, expected)
    const cold = await call('GET', '/big', '--user', 'someone-else')
    assert.equal(cold.code, 0, cold.stderr)
    assert.equal(cold.stdout.length, expected.length)
    assert.equal(cold.stdout, expected)
  })

  it('is not used by another target (another user, --insecure)', async () => {
    const before = proxy.connections()
    const other = await call('GET', '/hello', '--user', 'someone-else', '-v')
    assert.equal(other.code, 0, other.stderr)
    assert.doesNotMatch(other.stderr, /persisted connection/)
    const insecure = await call('GET', '/hello', '--insecure', '-v')
    assert.equal(insecure.code, 0, insecure.stderr)
    assert.doesNotMatch(insecure.stderr, /persisted connection/)
    assert.equal(proxy.connections(), before + 2)
  })

  it('ends on --persist stop; the next call connects on its own', async () => {
    const using = await call('GET', '/hello', '-v')
    const pid = pidOf(using.stderr)
    assert.ok(pid && alive(pid))
    const stop = await call('--persist', 'stop')
    assert.equal(stop.code, 0, stop.stderr)
    assert.match(stop.stderr, new RegExp(`stopped the persisted connection to ${to} \\(pid ${pid}\\)`))
    await waitFor(() => !alive(pid), 10_000, 'the master to exit')
    assert.deepEqual(socketsIn(), [])
    const again = await call('--persist', 'stop')
    assert.equal(again.code, 0)
    assert.match(again.stderr, /no persisted connection to/)
    const before = proxy.connections()
    const direct = await call('GET', '/hello', '-v')
    assert.equal(direct.code, 0, direct.stderr)
    assert.doesNotMatch(direct.stderr, /persisted connection/)
    assert.equal(proxy.connections(), before + 1)
  })

  it('exits after its idle time without calls, removing its socket', async () => {
    const started = await call('GET', '/hello', '--persist', '1s', '-v')
    assert.equal(started.code, 0, started.stderr)
    const pid = pidOf(started.stderr)
    assert.ok(pid)
    await waitFor(() => !alive(pid), 15_000, 'the idle master to exit')
    assert.deepEqual(socketsIn(), [])
  })

  it('fails a call with RW_ERR_TIMEOUT after --connect-timeout when its master takes the connection and never answers (stopped)', async () => {
    const started = await call('GET', '/hello', '--persist', '60s', '-v')
    const pid = pidOf(started.stderr)
    assert.ok(pid)
    process.kill(pid, 'SIGSTOP')
    try {
      // The fast path, then the full command (-v).
      for (const extra of [[], ['-v']]) {
        const stuck = await call('GET', '/hello', '--connect-timeout', '1s', ...extra)
        assert.equal(stuck.code, 7, stuck.stderr)
        assert.match(stuck.stderr, /the persisted connection at .* did not answer within 1000 ms/)
        assert.match(stuck.stderr, /RW_ERR_TIMEOUT/)
      }
    } finally {
      process.kill(pid, 'SIGCONT')
    }

    const next = await call('GET', '/hello')
    assert.equal(next.code, 0, next.stderr)
  })

  it('fails a call in flight clearly when its master is killed; the next call removes the stale socket and connects directly', async () => {
    const started = await call('GET', '/hello', '--persist', '60s', '-v')
    const pid = pidOf(started.stderr)
    assert.ok(pid)
    const inFlight = call('GET', '/slow', '--timeout', '60s')
    await waitFor(() => existsSync(join(dir(), 'slow-started')), 30_000, 'GET /slow to reach the server')
    process.kill(pid, 'SIGKILL')
    const failed = await inFlight
    assert.equal(failed.code, 3, failed.stderr)
    assert.match(failed.stderr, new RegExp(`the persisted connection \\(master pid ${pid}\\) closed before the answer arrived`))
    assert.match(failed.stderr, /RW_ERR_CLOSED/)
    assert.equal(socketsIn().length, 1, 'a killed master leaves its socket behind')
    const before = proxy.connections()
    const next = await call('GET', '/hello', '-v')
    assert.equal(next.code, 0, next.stderr)
    assert.doesNotMatch(next.stderr, /persisted connection/)
    assert.equal(proxy.connections(), before + 1)
    assert.deepEqual(socketsIn(), [], 'the stale socket was removed')
  })

  it('takes persist: from a named target; an explicit --persist stop ends it', async () => {
    const config = join(env.RESTWIRE_HOME!, 'config.yaml')
    await writeFile(config, `targets:\n  kept:\n    to: ${to}\n    user: from-target\n    persist: 30s\n`)
    try {
      const first = await restwire(['korv', 'call', 'GET', '/hello', '--target', 'kept', '-v'], env)
      assert.equal(first.code, 0, first.stderr)
      assert.match(first.stderr, /Started the persisted connection \(pid \d+, ends after 30000 ms/)
      masters.add(pidOf(first.stderr))
      const second = await restwire(['korv', 'call', 'GET', '/hello', '--target', 'kept', '-v'], env)
      assert.match(second.stderr, new RegExp(`Using the persisted connection .*\\(pid ${pidOf(first.stderr)}\\)`))
      const stop = await restwire(['korv', 'call', '--persist', 'stop', '--target', 'kept'], env)
      assert.match(stop.stderr, /stopped the persisted connection/)
    } finally {
      await rm(config)
    }
  })

  it('never uses a persist directory others can enter, and refuses --persist there', async () => {
    const persistDir = join(env.RESTWIRE_HOME!, 'persist')
    await chmod(persistDir, 0o755)
    try {
      const plain = await call('GET', '/hello')
      assert.equal(plain.code, 0, 'a call without --persist connects on its own')
      const result = await call('GET', '/hello', '--persist', '60s')
      assert.equal(result.code, 2)
      assert.match(result.stderr, /must be a directory of this user with mode 0700/)
    } finally {
      await chmod(persistDir, 0o700)
    }
  })
})
