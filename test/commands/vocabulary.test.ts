// One vocabulary across the commands (docs/cli.md, "Conventions"): one meaning per short flag, --listen on
// every server and --to on every client, and the address grammar end to end through the built CLI
// against real servers on 127.0.0.1 port 0 (bare HOST:PORT and PORT, the deprecated --gateway/--connect).
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import {type Server, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {restwire, root, startServe, type ServeProcess} from '../helpers/cli.js'
import {type RelayProcess, startRelayCli} from '../helpers/relay-cli.js'
import {type Upstream, startUpstream} from '../helpers/relay-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'

interface ManifestFlag {
  name: string
  char?: string
  aliases?: string[]
  deprecateAliases?: boolean
}

const manifest = JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {flags: Record<string, ManifestFlag>}>}
const commands = Object.entries(manifest.commands)

/** The short flags as decided: ssh-keygen's -f -t -b -C, curl's -d -o, ssh's -i -v. */
const SHORT_FLAGS: Record<string, string> = {C: 'comment', b: 'bits', c: 'config', d: 'data', f: 'file', i: 'identity', o: 'output', p: 'params', t: 'type', u: 'user', v: 'verbose'}
const SERVERS = ['korv:serve', 'tunnel:gateway', 'pipe:serve', 'relay:start']
const CLIENTS = ['korv:call', 'tunnel:expose', 'pipe:connect', 'tunnel:call', 'tunnel:nodes', 'pipe:call', 'relay:send']

describe('one vocabulary (the command manifest)', () => {
  it('each short flag means one flag name across every command, the one decided', () => {
    const meanings = new Map<string, Set<string>>()
    for (const [, command] of commands) {
      for (const flag of Object.values(command.flags)) {
        if (flag.char) meanings.set(flag.char, (meanings.get(flag.char) ?? new Set()).add(flag.name))
      }
    }

    for (const [char, names] of meanings) assert.deepEqual([...names], [SHORT_FLAGS[char]], `-${char} means ${[...names].join(' and ')}`)
    assert.ok(!meanings.has('H'), '-H is left to curl users\' header')
    const withP = commands.filter(([, command]) => Object.values(command.flags).some((flag) => flag.char === 'p')).map(([id]) => id)
    assert.deepEqual(withP, ['relay:send'])
  })

  it('no command keeps --host, --port, --gateway, --connect or --out as a flag name; timeouts have no short flag', () => {
    for (const [id, command] of commands) {
      for (const old of ['host', 'port', 'gateway', 'connect', 'out']) assert.ok(!(old in command.flags), `${id} still defines --${old}`)
      for (const flag of Object.values(command.flags)) if (flag.name.endsWith('timeout')) assert.equal(flag.char, undefined, `${id} --${flag.name}`)
    }
  })

  it('every server takes --listen, every client --to; --gateway and --connect are deprecated aliases of --to', () => {
    for (const id of SERVERS) assert.ok('listen' in manifest.commands[id]!.flags, `${id} --listen`)
    for (const id of CLIENTS) assert.ok('to' in manifest.commands[id]!.flags, `${id} --to`)
    for (const id of ['tunnel:call', 'tunnel:nodes', 'pipe:call']) {
      assert.deepEqual([manifest.commands[id]!.flags.to!.aliases, manifest.commands[id]!.flags.to!.deprecateAliases], [['gateway'], true])
    }

    assert.deepEqual(manifest.commands['relay:send']!.flags.to!.aliases, ['connect'])
  })

  it('--name is an identity name only; the CA name is --common-name', () => {
    const withName = commands.filter(([, command]) => 'name' in command.flags).map(([id]) => id).sort()
    assert.deepEqual(withName, ['keys:cert', 'pipe:connect', 'pipe:serve'])
    assert.ok('common-name' in manifest.commands['keys:ca']!.flags)
  })
})

describe('addresses end to end', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-vocabulary-')
  let serve: ServeProcess
  let relay: RelayProcess
  let upstream: Upstream
  let gateway: Server
  let gatewayPort: number
  let env: Record<string, string>

  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home'), RESTWIRE_TARGET: ''}
    serve = await startServe(['--demo'], env)
    upstream = await startUpstream()
    const config = join(dir(), 'relay.json')
    writeFileSync(config, JSON.stringify({requests: {user: {method: 'GET', url: `${upstream.origin}/user/{id}`}}}))
    // HOST:PORT without tcp://, which relay start used to refuse.
    relay = await startRelayCli(['--config', config, '--listen', '127.0.0.1:0'])
    // A stand-in for the tunnel gateway's HTTP API: GET /nodes.
    gateway = createServer((_request, response) => response.writeHead(200, {'content-type': 'application/json'}).end('[]'))
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve))
    gatewayPort = (gateway.address() as AddressInfo).port
  })

  after(async () => {
    await serve?.stop('SIGKILL')
    await relay?.stop()
    await upstream?.close()
    gateway?.close()
  })

  it('korv call --to HOST:PORT, --to PORT, and the server reports where it listens', async () => {
    assert.equal(serve.stderr.some((line) => line.includes(`"port":${serve.port}`)), true)
    for (const to of [`127.0.0.1:${serve.port}`, String(serve.port)]) {
      const result = await restwire(['korv', 'call', 'GET', '/hello', '--to', to, '--json'], env)
      assert.equal(result.code, 0, result.stderr)
      const envelope = JSON.parse(result.stdout) as {status: number; target: {address: string}}
      assert.deepEqual([envelope.status, envelope.target.address], [200, `127.0.0.1:${serve.port}`])
    }
  })

  it('relay start --listen HOST:PORT listens on tcp://; relay send --to takes it with or without tcp://', async () => {
    assert.match(relay.address, /^tcp:\/\/127\.0\.0\.1:\d+$/)
    const bare = relay.address.slice('tcp://'.length)
    for (const to of [relay.address, bare]) {
      const result = await restwire(['relay', 'send', 'user', '-p', 'id=7', '--to', to], {})
      assert.equal(result.code, 0, result.stderr)
      assert.equal((JSON.parse(result.stdout) as {status: string}).status, 'ok')
    }
  })

  it('--connect still works, with a warning naming --to', async () => {
    const result = await restwire(['relay', 'send', 'user', '-p', 'id=7', '--connect', relay.address], {})
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /"--connect" flag has been deprecated\. Use "--to"/)
  })

  it('tunnel nodes --to HOST:PORT means http://; --gateway URL still works, with a warning', async () => {
    const bare = await restwire(['tunnel', 'nodes', '--to', `127.0.0.1:${gatewayPort}`, '--json'], env)
    assert.equal(bare.code, 0, bare.stderr)
    assert.equal(bare.stdout.trim(), '[]')
    assert.equal(bare.stderr, '')
    const old = await restwire(['tunnel', 'nodes', '--gateway', `http://127.0.0.1:${gatewayPort}`], env)
    assert.equal(old.code, 0, old.stderr)
    assert.equal(old.stdout, '')
    assert.match(old.stderr, /"--gateway" flag has been deprecated\. Use "--to"/)
  })

  it('a bad address is a usage error that shows the accepted forms, also as JSON', async () => {
    const result = await restwire(['pipe', 'call', 'GET', '/x', '--to', 'ftp://127.0.0.1:1', '--json'], {})
    assert.equal(result.code, 2)
    const {error} = JSON.parse(result.stdout) as {error: {code: string; message: string; hint: string}}
    assert.equal(error.code, 'RW_ERR_USAGE')
    assert.equal(error.message, '--to takes only http:// or https://, got "ftp://127.0.0.1:1"')
    assert.match(error.hint, /^--to takes \[http\|https:\/\/\]HOST:PORT, \[http\|https:\/\/\]\[IPv6\]:PORT or PORT, e\.g\. http:\/\/api\.example\.com:8080\.$/)
  })
})
