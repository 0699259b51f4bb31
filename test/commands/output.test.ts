// Output rules of the CLI, with real processes: colour (--color, NO_COLOR) on a pseudo-terminal and piped,
// pretty-printing independent of colour, and `relay send`'s prompt for a missing NAME and its unknown-name hint.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {parseRelayAddress} from '../../src/core/relay/address.js'
import {type RelayServer, startRelayServer} from '../../src/core/relay/server.js'
import {root} from '../helpers/cli.js'
import {type Upstream, relayConfig, startUpstream} from '../helpers/relay-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

// eslint-disable-next-line no-control-regex
const ANSI = /\u001B\[[\d;]*m/
const bin = join(root, 'bin', 'run.js')

/** The environment of a user who set nothing about colour (the runner's own variables removed). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...process.env, TERM: 'xterm'}
  delete env.NO_COLOR
  delete env.FORCE_COLOR
  return {...env, ...extra}
}

interface Run {
  code: number
  stdout: string
  stderr: string
}

function piped(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], {env: cleanEnv(env), timeout: 60_000}, (error, stdout, stderr) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stderr, stdout})
    })
    child.stdin?.end()
  })
}

/** stdout and stderr share the terminal: `output` is both. */
function onTerminal(steps: string[][], args: string[], env: Record<string, string> = {}): Promise<{code: number; output: string}> {
  const driver = join(root, 'test', 'fixtures', 'tty-driver.py')
  return new Promise((resolve) => {
    execFile(tool('python3'), [driver, JSON.stringify(steps), '--', process.execPath, bin, ...args], {env: cleanEnv(env), timeout: 90_000}, (error, stdout) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, output: stdout})
    })
  })
}

describe('output: colour rules and relay send on a terminal', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-output-')
  let upstream: Upstream
  let relay: RelayServer
  let configPath: string
  const send = (...args: string[]): string[] => ['relay', 'send', '--to', relay.address, ...args]

  before(async () => {
    upstream = await startUpstream()
    const requests = {
      create: {method: 'POST', url: `${upstream.origin}/echo`},
      user: {method: 'GET', url: `${upstream.origin}/user/{user_id}`},
    }
    configPath = join(dir(), 'relay.json')
    writeFileSync(configPath, JSON.stringify({requests}))
    relay = await startRelayServer({config: relayConfig({requests}), listen: parseRelayAddress('tcp://127.0.0.1:0', 'listen')})
  })

  after(async () => {
    await relay?.close({drainMs: 1000})
    await upstream?.close()
  })

  it('on a terminal: pretty and coloured; NO_COLOR or --color never: still pretty, no colour; --color always beats NO_COLOR', {skip: skipWithout('python3')}, async () => {
    // eslint-disable-next-line no-control-regex
    const pretty = /\{\r?\n {2}(\u001B\[\d+m)?"status"/
    const auto = await onTerminal([], send('user', '-p', 'user_id=7'))
    assert.equal(auto.code, 0, auto.output)
    assert.match(auto.output, pretty)
    assert.match(auto.output, ANSI)
    for (const [args, env] of [[[], {NO_COLOR: '1'}], [['--color', 'never'], {}], [['--color=never'], {}]] as const) {
      const plain = await onTerminal([], send('user', '-p', 'user_id=7', ...args), env)
      assert.equal(plain.code, 0, plain.output)
      assert.match(plain.output, pretty, `${args.join(' ')} ${JSON.stringify(env)}`)
      assert.doesNotMatch(plain.output, ANSI, `${args.join(' ')} ${JSON.stringify(env)}`)
    }

    // An empty NO_COLOR is not set (no-color.org).
    assert.match((await onTerminal([], send('user', '-p', 'user_id=7'), {NO_COLOR: ''})).output, ANSI)
    assert.match((await onTerminal([], send('user', '-p', 'user_id=7', '--color', 'always'), {NO_COLOR: '1'})).output, ANSI)
    // Errors on stderr follow the same rules, also when the flags do not parse.
    assert.match((await onTerminal([], ['relay', 'send', '--to', 'nowhere'])).output, ANSI)
    assert.doesNotMatch((await onTerminal([], ['relay', 'send', '--to', 'nowhere', '--color', 'never'])).output, ANSI)
  })

  it('piped: compact and plain; --color always colours even then', async () => {
    // FORCE_COLOR, which CI systems set globally, does not colour piped output.
    const plain = await piped(send('user', '-p', 'user_id=7'), {FORCE_COLOR: '3'})
    assert.equal(plain.code, 0, plain.stderr)
    assert.doesNotMatch(plain.stdout, ANSI)
    assert.equal(plain.stdout.trim().split('\n').length, 1)
    assert.equal((JSON.parse(plain.stdout) as {status: string}).status, 'ok')
    const coloured = await piped(send('user', '-p', 'user_id=7', '--color', 'always'))
    assert.equal(coloured.code, 0, coloured.stderr)
    assert.match(coloured.stdout, ANSI)
    assert.equal(coloured.stdout.trim().split('\n').length, 1)
    const error = await piped(['relay', 'send', 'user', '--to', 'tcp://127.0.0.1:1', '--color', 'always'])
    assert.equal(error.code, 3)
    assert.match(error.stderr, ANSI)
    assert.doesNotMatch((await piped(['relay', 'send', 'user', '--to', 'tcp://127.0.0.1:1'])).stderr, ANSI)
    const bad = await piped(['relay', 'send', '--color', 'sometimes'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /auto, always, never/)
  })

  it('relay send without NAME on a terminal: a list of the config\'s requests to pick from, then its placeholders', {skip: skipWithout('python3')}, async () => {
    const steps = [['Request', '\u001B[B\r'], ['user_id', 'picked\r']]
    const {code, output} = await onTerminal(steps, send('--config', configPath))
    assert.equal(code, 0, output)
    assert.match(output, /create/)
    assert.match(output, /"picked"/)
  })

  it('relay send without NAME or --config on a terminal: typed in; an unknown one lists the relay\'s names', {skip: skipWithout('python3')}, async () => {
    const {code, output} = await onTerminal([['Request name', 'usr\r']], send())
    assert.equal(code, 2, output)
    assert.match(output, /unknown request "usr"; the requests are: create, user/)
    assert.match(output, /relay check --config FILE/)
  })

  it('relay send without NAME and no terminal: a usage error naming NAME (and the config\'s names)', async () => {
    const bare = await piped(send())
    assert.equal(bare.code, 2)
    assert.match(bare.stderr, /missing NAME/)
    const withConfig = await piped(send('--config', configPath))
    assert.equal(withConfig.code, 2)
    assert.match(withConfig.stderr, /missing NAME/)
    assert.match(withConfig.stderr, /Pass one of create, user/)
    const unknown = await piped(send('usr'))
    assert.equal(unknown.code, 2)
    assert.equal((JSON.parse(unknown.stdout) as {response: {error: string}}).response.error, 'unknown request "usr"; the requests are: create, user')
    assert.match(unknown.stderr, /relay: usr failed: unknown request "usr"; the requests are: create, user/)
    assert.match(unknown.stderr, /Hint: .*relay check --config FILE/)
  })
})
