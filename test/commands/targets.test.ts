// Named targets end to end: the built CLI with a config.yaml in a fresh restwire home, against a real
// `korv serve`, a local HTTP server standing in for a tunnel/pipe gateway and a TCP server for a relay.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {writeFile} from 'node:fs/promises'
import {type IncomingMessage, createServer} from 'node:http'
import {type AddressInfo, createServer as createTcpServer} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type ServeProcess, restwire, root, startServe} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'

describe('restwire --target (named targets in <restwire home>/config.yaml)', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let serve: ServeProcess
  let configPath: string
  const seen: string[] = []
  const gateway = createServer((request: IncomingMessage, response) => {
    seen.push(`${request.method} ${request.url}`)
    response.setHeader('content-type', 'application/json')
    response.setHeader('x-event-return-code', '0')
    response.end(request.url === '/nodes' ? '[]' : '{"via":"gateway"}')
  })
  const relayLines: string[] = []
  const relay = createTcpServer((socket) => {
    socket.setEncoding('utf8')
    socket.once('data', (line: string) => {
      relayLines.push(line.trim())
      socket.end(`${JSON.stringify({headers: {}, http_status: 200, id: 1, response: {via: 'relay'}, status: 'ok', time: 0.001})}\n`)
    })
  })

  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home'), RESTWIRE_TARGET: ''}
    serve = await startServe(['--demo'], env)
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve))
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
    // Port 1 refuses connections: a setting that must not be used when a flag overrides it.
    configPath = join(env.RESTWIRE_HOME!, 'config.yaml')
    await writeFile(
      configPath,
      `targets:
  local:
    to: 127.0.0.1:${serve.port}
    user: ada
    timeout: 5s
  gw:
    to: http://127.0.0.1:${(gateway.address() as AddressInfo).port}
  relay:
    to: tcp://127.0.0.1:${(relay.address() as AddressInfo).port}
  closed:
    to: 127.0.0.1:1
    connect_timeout: 3s
`,
    )
  })
  after(async () => {
    await serve?.stop('SIGKILL')
    gateway.close()
    relay.close()
  })

  it('korv call --target uses the address of the target', async () => {
    const result = await restwire(['korv', 'call', 'GET', '/hello', '--target', 'local', '--json'], env)
    assert.equal(result.code, 0, result.stderr)
    const envelope = JSON.parse(result.stdout) as {status: number; target: {address: string}; body: unknown}
    assert.deepEqual([envelope.status, envelope.target.address, envelope.body], [200, `127.0.0.1:${serve.port}`, {msg: 'Hello World!'}])
  })

  it('RESTWIRE_TARGET chooses the target when --target is not given', async () => {
    const result = await restwire(['korv', 'call', 'GET', '/hello'], {...env, RESTWIRE_TARGET: 'local'})
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, '{"msg":"Hello World!"}\n')
  })

  it('an explicit flag wins over the file; without it the file applies', async () => {
    const refused = await restwire(['korv', 'call', 'GET', '/hello', '--target', 'closed'], env)
    assert.equal(refused.code, 3, refused.stderr)
    assert.match(refused.stderr, /127\.0\.0\.1:1\b/)
    const overridden = await restwire(['korv', 'call', 'GET', '/hello', '--target', 'closed', '--to', String(serve.port)], env)
    assert.equal(overridden.code, 0, overridden.stderr)
    assert.equal(overridden.stdout, '{"msg":"Hello World!"}\n')
  })

  it('tunnel nodes, tunnel call and pipe call take the gateway of the target', async () => {
    seen.length = 0
    assert.equal((await restwire(['tunnel', 'nodes', '--target', 'gw', '--json'], env)).stdout.trim(), '[]')
    const tunnel = await restwire(['tunnel', 'call', 'n1', 'GET', '/home', '--target', 'gw'], env)
    assert.equal(tunnel.stdout, '{"via":"gateway"}\n', tunnel.stderr)
    const pipe = await restwire(['pipe', 'call', 'GET', '/client/n1/time'], {...env, RESTWIRE_TARGET: 'gw'})
    assert.equal(pipe.code, 0, pipe.stderr)
    assert.deepEqual(seen, ['GET /nodes', 'GET /nodes/n1/home', 'GET /client/n1/time'])
  })

  it('relay send takes the relay address of the target', async () => {
    const result = await restwire(['relay', 'send', 'user', '--params', 'id=7', '--target', 'relay'], env)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /"via"/)
    assert.deepEqual(JSON.parse(relayLines.at(-1)!), {id: 1, params: {id: '7'}, request: 'user'})
  })

  it("a target's to: that the command does not take is a config error naming file, line and the forms", async () => {
    const result = await restwire(['tunnel', 'nodes', '--target', 'relay'], env)
    assert.equal(result.code, 2)
    assert.match(result.stderr, new RegExp(`^Error: ${escape(configPath)}:9: targets\\.relay\\.to: takes only http:// or https://, got "tcp://127\\.0\\.0\\.1:\\d+" \\(as --to\\)$`, 'm'))
    assert.match(result.stderr, /RW_ERR_CONFIG/)
  })

  it('an unknown target lists the known ones (exit 2, RW_ERR_CONFIG)', async () => {
    const result = await restwire(['korv', 'call', 'GET', '/hello', '--target', 'prod'], env)
    assert.equal(result.code, 2)
    assert.match(result.stderr, /no target "prod" \(--target\) in .*config\.yaml; known: local, gw, relay, closed/)
    assert.match(result.stderr, /RW_ERR_CONFIG/)
    const json = await restwire(['tunnel', 'nodes', '--json'], {...env, RESTWIRE_TARGET: 'nope'})
    assert.equal((JSON.parse(json.stdout) as {error: {code: string}}).error.code, 'RW_ERR_CONFIG')
  })

  it('config show: a table of each value and its source', async () => {
    const result = await restwire(['config', 'show', '--target', 'local'], env)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, new RegExp(`^config +${escape(configPath)} \\(targets: local, gw, relay, closed\\)$`, 'm'))
    assert.match(result.stdout, /^target +local \(flag --target\)$/m)
    assert.match(result.stdout, new RegExp(`^korv call +--to +127\\.0\\.0\\.1:${serve.port} +${escape(configPath)}:3$`, 'm'))
    assert.match(result.stdout, new RegExp(`^korv call +--user +ada +${escape(configPath)}:4$`, 'm'))
    assert.match(result.stdout, /^korv call +--connect-timeout +10s +default$/m)
    assert.match(result.stdout, /^relay send +--timeout +5s +.*config\.yaml:5$/m)
    const none = await restwire(['config', 'show'], env)
    assert.match(none.stdout, /^target +none \(pass --target NAME or set RESTWIRE_TARGET\)$/m)
    assert.match(none.stdout, /^tunnel nodes +--timeout +30s +default$/m)
    assert.match(none.stdout, /^relay send +--to +tcp:\/\/127\.0\.0\.1:9876 +default$/m)
    // A target's to: for another kind of server is shown, with why this command cannot use it.
    const relayTarget = await restwire(['config', 'show', '--target', 'relay'], env)
    assert.equal(relayTarget.code, 0, relayTarget.stderr)
    assert.match(relayTarget.stdout, /^pipe call +--to +tcp:\/\/127\.0\.0\.1:\d+ \(not usable here: takes only http:\/\/ or https:\/\/, got .*\) +.*config\.yaml:9$/m)
    assert.match(relayTarget.stdout, /^relay send +--to +tcp:\/\/127\.0\.0\.1:\d+ +.*config\.yaml:9$/m)
  })

  it('config show --json: the target chosen by RESTWIRE_TARGET, each setting with its source', async () => {
    const result = await restwire(['config', 'show', '--json'], {...env, RESTWIRE_TARGET: 'closed'})
    assert.equal(result.code, 0, result.stderr)
    const shown = JSON.parse(result.stdout) as {
      path: string
      exists: boolean
      targets: string[]
      target: unknown
      settings: Array<{command: string; flag: string; setting: string; value: string; source: unknown}>
    }
    assert.deepEqual([shown.path, shown.exists, shown.targets], [configPath, true, ['local', 'gw', 'relay', 'closed']])
    assert.deepEqual(shown.target, {name: 'closed', source: {kind: 'env', variable: 'RESTWIRE_TARGET'}})
    const find = (command: string, flag: string) => shown.settings.find((s) => s.command === command && s.flag === flag)
    assert.deepEqual(find('korv call', '--to'), {command: 'korv call', flag: '--to', setting: 'to', source: {kind: 'config', line: 11, path: configPath}, value: '127.0.0.1:1'})
    assert.deepEqual(find('korv call', '--connect-timeout')?.source, {kind: 'config', line: 12, path: configPath})
    assert.deepEqual(find('pipe call', '--to')?.value, 'http://127.0.0.1:1')
    assert.deepEqual(find('tunnel nodes', '--timeout'), {command: 'tunnel nodes', flag: '--timeout', setting: 'timeout', source: {kind: 'default'}, value: '30s'})
  })

  it('loads the YAML parser only when there is a config file or a target is named', async () => {
    const probe = {NODE_OPTIONS: `--import ${join(root, 'test', 'fixtures', 'yaml-load-probe.mjs')}`}
    const bare = join(dir(), 'bare-home')
    const {mkdir} = await import('node:fs/promises')
    await mkdir(bare)
    // The zero-config client key comes from the serving home; only the config file's absence matters here.
    const keys = ['-i', join(env.RESTWIRE_HOME!, 'id_ed25519'), '--known-hosts', join(env.RESTWIRE_HOME!, 'known_hosts'), '--accept-new']
    const without = await restwire(['korv', 'call', 'GET', '/hello', '--to', String(serve.port), ...keys], {...env, ...probe, RESTWIRE_HOME: bare})
    assert.equal(without.code, 0, without.stderr)
    assert.doesNotMatch(without.stderr, /yaml loaded/)
    const withFile = await restwire(['korv', 'call', 'GET', '/hello', '--to', String(serve.port)], {...env, ...probe})
    assert.equal(withFile.code, 0, withFile.stderr)
    assert.match(withFile.stderr, /yaml loaded/)
  })

  it('an invalid file is refused by every client command, naming targets.NAME.FIELD', async () => {
    const home = join(dir(), 'bad-home')
    const {mkdir} = await import('node:fs/promises')
    await mkdir(home)
    await writeFile(join(home, 'config.yaml'), 'targets:\n  local:\n    adress: 127.0.0.1:8022\n')
    const result = await restwire(['korv', 'call', 'GET', '/hello', '--to', String(serve.port)], {...env, RESTWIRE_HOME: home})
    assert.equal(result.code, 2)
    assert.match(result.stderr, /targets\.local\.adress: unknown field/)
    const shown = await restwire(['config', 'show'], {...env, RESTWIRE_HOME: home})
    assert.equal(shown.code, 2)
    // A FIFO in its place is refused at once instead of blocking the command.
    const fifoHome = join(dir(), 'fifo-home')
    await mkdir(fifoHome)
    execFileSync('mkfifo', [join(fifoHome, 'config.yaml')])
    const fifo = await restwire(['tunnel', 'nodes'], {...env, RESTWIRE_HOME: fifoHome})
    assert.equal(fifo.code, 2)
    assert.match(fifo.stderr, /cannot read .*config\.yaml: not a regular file/)
  })
})

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
