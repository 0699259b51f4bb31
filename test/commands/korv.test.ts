// `restwire korv serve` and `korv call` end to end: the built CLI in child processes, real SSH between them.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import {type Server, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type ServeProcess, restwire, root, startServe} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

describe('restwire korv serve + call (zero configuration)', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let serve: ServeProcess
  let port: string

  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home')}
    serve = await startServe(['--demo'], env)
    port = String(serve.port)
  })
  after(async () => {
    await serve?.stop('SIGKILL')
  })

  it('calls GET /hello with nothing but the port, printing compact JSON when piped', async () => {
    const result = await restwire(['korv', 'call', 'GET', '/hello', '--to', port], env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, '{"msg":"Hello World!"}\n')
    const known = await readFile(join(env.RESTWIRE_HOME!, 'known_hosts'), 'utf8')
    assert.match(known, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${port} ssh-ed25519 `, 'm'), 'the local server is trusted on first use')
    const log = JSON.parse(await serve.waitForLine(/"path":"\/hello"/)) as Record<string, unknown>
    assert.equal(log.verb, 'GET')
    assert.equal(log.code, 200)
    assert.match(String(log.fingerprint), /^SHA256:/)
  })

  it('prints the whole envelope with --json', async () => {
    const result = await restwire(['korv', 'call', 'GET', '/echo?x=1', '--to', port, '--json'], env)
    assert.equal(result.code, 0, result.stderr)
    const envelope = JSON.parse(result.stdout) as {status: number; body: {query: unknown}; timing: {totalMs: number}}
    assert.equal(envelope.status, 200)
    assert.deepEqual(envelope.body.query, {x: '1'})
    assert.equal(typeof envelope.timing.totalMs, 'number')
  })

  it('exits 8 on 404 and 405, printing the body', async () => {
    const missing = await restwire(['korv', 'call', 'GET', '/nope', '--to', port], env)
    assert.equal(missing.code, 8)
    assert.match(missing.stdout, /no such resource/)
    const wrongVerb = await restwire(['korv', 'call', 'DELETE', '/hello', '--to', port], env)
    assert.equal(wrongVerb.code, 8)
    assert.deepEqual(JSON.parse(wrongVerb.stdout).allowed, ['GET'])
  })

  it('reads the body from --data, @file and @- (stdin)', async () => {
    const inline = await restwire(['korv', 'call', 'STORE', '/echo', '--to', port, '--data', '{"a":1}'], env)
    assert.equal(inline.stdout, '{"a":1}\n')
    const file = join(dir(), 'body.json')
    await writeFile(file, '{"from":"file"}')
    assert.equal((await restwire(['korv', 'call', 'POST', '/echo', '--to', port, '-d', `@${file}`], env)).stdout, '{"from":"file"}\n')
    assert.equal((await restwire(['korv', 'call', 'STORE', '/echo', '--to', port, '--data', '@-'], env, '{"from":"stdin"}')).stdout, '{"from":"stdin"}\n')
    const bad = await restwire(['korv', 'call', 'STORE', '/echo', '--to', port, '--data', '{nope'], env)
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--data is not valid JSON/)
  })

  it('runs a --batch over one connection, one envelope line per answer, bad lines reported', async () => {
    const lines = [...Array.from({length: 50}, (_, n) => JSON.stringify({id: n, path: '/echo', verb: 'STORE', body: {n}})), 'not json', '{"verb":"GET","path":"/nope","id":"x"}']
    const result = await restwire(['korv', 'call', '--batch', '-', '--to', port], env, lines.join('\n') + '\n')
    type Line = {korv: {batch: {id: unknown; line: number}}; status?: number; body?: unknown; error?: unknown}
    const out = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Line)
    const byId = (id: unknown): Line | undefined => out.find((line) => line.korv.batch.id === id)
    assert.equal(out.length, 52)
    for (let n = 0; n < 50; n++) assert.deepEqual(byId(n)?.body, {n})
    assert.ok(byId(51)?.error, 'the bad line is reported with its line number')
    assert.equal(byId('x')?.status, 404)
    assert.equal(result.code, 8, 'worst status class: 4xx')
  })

  it('on a terminal: prompts for verb, path and body, and prints pretty coloured JSON', {skip: skipWithout('python3')}, async () => {
    const steps = [
      ['Verb', '\u001B[B\r'],
      ['Path', '/echo\r'],
      ['JSON body', '{"typed":true}\r'],
    ]
    const result = await onTerminal(steps, ['korv', 'call', '--to', port], env)
    assert.equal(result.code, 0, result.output)
    assert.ok(result.output.includes('\u001B[34m"typed"'), 'keys are coloured (blue)')
    assert.match(result.output, /\{\r?\n {2}/, 'pretty-printed over several lines')
  })

  it('asks for the passphrase of an encrypted -i key on a terminal, or takes RESTWIRE_KEY_PASSPHRASE', {skip: skipWithout('python3')}, async () => {
    const keyPath = join(dir(), 'locked')
    const authorizedKeys = join(env.RESTWIRE_HOME!, 'authorized_keys')
    const made = await restwire(['keys', 'gen', '-f', keyPath, '--passphrase-env', 'PW', '--authorize', authorizedKeys], {...env, PW: 'open sesame'})
    assert.equal(made.code, 0, made.stderr)
    const args = ['korv', 'call', 'GET', '/hello', '--to', port, '-i', keyPath, '--known-hosts', join(env.RESTWIRE_HOME!, 'known_hosts')]
    const typed = await onTerminal([['Enter passphrase for', 'open sesame\r']], args, env)
    assert.equal(typed.code, 0, typed.output)
    assert.match(typed.output, /Hello World!/)
    const fromEnv = await restwire(args, {...env, RESTWIRE_KEY_PASSPHRASE: 'open sesame'})
    assert.equal(fromEnv.stdout, '{"msg":"Hello World!"}\n', fromEnv.stderr)
    const noWay = await restwire(args, env)
    assert.equal(noWay.code, 10, 'encrypted, no terminal and no variable')
    assert.match(noWay.stderr, /RESTWIRE_KEY_PASSPHRASE/)
  })

  it('never prompts without a terminal: missing VERB/PATH is a usage error', async () => {
    const result = await restwire(['korv', 'call', '--to', port], env)
    assert.equal(result.code, 2)
    assert.match(result.stderr, /missing VERB and PATH/)
  })

  it('names a missing key file (exit 10) and a refused connection (exit 3)', async () => {
    const missingKey = await restwire(['korv', 'call', 'GET', '/hello', '--to', port, '-i', join(dir(), 'nope_key')], env)
    assert.equal(missingKey.code, 10)
    assert.match(missingKey.stderr, /nope_key/)
    const refused = await restwire(['korv', 'call', 'GET', '/hello', '--to', '1'], env)
    assert.equal(refused.code, 3)
    assert.match(refused.stderr, /connection refused/)
  })

  it('rejects a key that is not authorized (exit 4) and logs the attempt', async () => {
    const keyPath = join(dir(), 'stranger')
    assert.equal((await restwire(['keys', 'gen', '-f', keyPath], env)).code, 0)
    const result = await restwire(['korv', 'call', 'GET', '/hello', '--to', port, '-i', keyPath, '--known-hosts', join(env.RESTWIRE_HOME!, 'known_hosts')], env)
    assert.equal(result.code, 4, result.stderr)
    assert.match(result.stderr, /rejected every key/)
    await serve.waitForLog(/auth rejected/)
  })
})

describe('restwire korv call host key checks', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let serve: ServeProcess
  let other: ServeProcess

  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home')}
    serve = await startServe(['--demo'], env)
    const otherHostKey = join(dir(), 'other_host_key')
    assert.equal((await restwire(['keys', 'gen', '-f', otherHostKey], env)).code, 0)
    other = await startServe(['--demo', '--host-key', otherHostKey], env)
  })
  after(async () => {
    await serve?.stop('SIGKILL')
    await other?.stop('SIGKILL')
  })

  it('fails on an unknown host key with its fingerprint and the trusting command; --accept-new trusts it', async () => {
    const knownHosts = join(dir(), 'known_hosts')
    const args = ['korv', 'call', 'GET', '/hello', '--to', String(serve.port), '--known-hosts', knownHosts]
    const unknown = await restwire(args, env)
    assert.equal(unknown.code, 5, unknown.stderr)
    assert.match(unknown.stderr, /SHA256:\S+/)
    assert.match(unknown.stderr, /--accept-new/)
    const accepted = await restwire([...args, '--accept-new'], env)
    assert.equal(accepted.code, 0, accepted.stderr)
    assert.equal((await restwire(args, env)).code, 0, 'the key was recorded')
  })

  it('always fails on a changed host key, even with --accept-new (exit 6)', async () => {
    const knownHosts = join(dir(), 'known_hosts_changed')
    const real = await readFile(join(env.RESTWIRE_HOME!, 'host_ed25519_key.pub'), 'utf8')
    // Record the first server's key under the second server's address: the second one now looks changed.
    await writeFile(knownHosts, `[127.0.0.1]:${other.port} ${real.split(' ').slice(0, 2).join(' ')}\n`)
    const result = await restwire(['korv', 'call', 'GET', '/hello', '--to', String(other.port), '--known-hosts', knownHosts, '--accept-new'], env)
    assert.equal(result.code, 6, result.stderr)
    assert.match(result.stderr, /RW_ERR_HOST_KEY_CHANGED/)
  })
})

describe('restwire korv serve with --routes and --upstream', () => {
  const dir = useTempDir()
  const env = (): Record<string, string> => ({RESTWIRE_HOME: join(dir(), 'home')})
  let upstream: Server

  before(async () => {
    upstream = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk) => (body += chunk))
      req.on('end', () => {
        res.writeHead(req.method === 'POST' ? 201 : 200, {'content-type': 'application/json'})
        res.end(JSON.stringify({body: body ? JSON.parse(body) : null, method: req.method, url: req.url}))
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  })
  after(() => upstream?.close())

  it('serves a TypeScript routes module: params, 201, 500 with traceback (--tracebacks), 504 on a slow handler', async () => {
    const serve = await startServe(['--routes', join(root, 'test', 'fixtures', 'routes.ts'), '--handler-timeout', '300ms', '--tracebacks'], env())
    const port = String(serve.port)
    try {
      assert.equal((await restwire(['korv', 'call', 'GET', '/items/7', '--to', port], env())).stdout, '{"id":"7"}\n')
      const created = await restwire(['korv', 'call', 'STORE', '/items', '--to', port, '-d', '{"x":1}', '--json'], env())
      assert.equal(JSON.parse(created.stdout).status, 201)
      const boom = await restwire(['korv', 'call', 'GET', '/boom', '--to', port], env())
      assert.equal(boom.code, 9)
      assert.match(JSON.parse(boom.stdout).traceback, /route exploded/)
      const slow = await restwire(['korv', 'call', 'GET', '/slow', '--to', port], env())
      assert.equal(slow.code, 9)
      assert.match(slow.stdout, /timed out/)
    } finally {
      await serve.stop('SIGKILL')
    }
  })

  it('hides tracebacks by default; a client --timeout gives exit 7', {skip: skipWithout('python3')}, async () => {
    const serve = await startServe(['--routes', join(root, 'test', 'fixtures', 'routes.ts')], env())
    const port = String(serve.port)
    try {
      const boom = await restwire(['korv', 'call', 'GET', '/boom', '--to', port], env())
      assert.deepEqual(JSON.parse(boom.stdout), {message: 'route exploded'})
      const slow = await restwire(['korv', 'call', 'GET', '/slow', '--to', port, '--timeout', '200ms'], env())
      assert.equal(slow.code, 7, slow.stderr)
      const waited = await onTerminal([], ['korv', 'call', 'GET', '/slow', '--to', port], env())
      assert.equal(waited.code, 0, waited.output)
      assert.match(waited.output, /waiting for GET \/slow \(\d s\)/, 'a long wait shows progress on a terminal')
    } finally {
      await serve.stop('SIGKILL')
    }
  })

  it('forwards to an HTTP upstream: STORE → POST with the JSON body, status mapped back', async () => {
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/api`
    const serve = await startServe(['--upstream', url], env())
    try {
      const result = await restwire(['korv', 'call', 'STORE', '/things?tag=a', '--to', String(serve.port), '-d', '{"n":1}', '--json'], env())
      const envelope = JSON.parse(result.stdout) as {status: number; body: unknown}
      assert.equal(envelope.status, 201)
      assert.deepEqual(envelope.body, {body: {n: 1}, method: 'POST', url: '/api/things?tag=a'})
    } finally {
      await serve.stop('SIGKILL')
    }
  })

  it('drains and exits 0 on SIGTERM; refuses to start without a handler source (exit 2)', async () => {
    const serve = await startServe(['--demo'], env())
    assert.equal(await serve.stop('SIGTERM'), 0, serve.stderr.join('\n'))
    const none = await restwire(['korv', 'serve', '--listen', '0'], env())
    assert.equal(none.code, 2, none.stderr)
    assert.match(none.stderr, /--routes FILE, --upstream URL or --demo/)
  })

  it('shows examples in --help', async () => {
    for (const command of [['korv', 'serve'], ['korv', 'call'], ['keys', 'gen']]) {
      const help = await restwire([...command, '--help'], env())
      assert.equal(help.code, 0)
      assert.match(help.stdout, /EXAMPLES/)
    }
  })
})

/** Runs the CLI on a pseudo-terminal (test/fixtures/tty-driver.py), typing answers to its prompts. */
function onTerminal(steps: string[][], args: string[], env: Record<string, string>): Promise<{code: number; output: string}> {
  const driver = join(root, 'test', 'fixtures', 'tty-driver.py')
  return new Promise((resolve) => {
    execFile(tool('python3'), [driver, JSON.stringify(steps), '--', process.execPath, join(root, 'bin', 'run.js'), ...args], {env: {...process.env, ...env, FORCE_COLOR: '1'}, timeout: 90_000}, (error, stdout) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, output: stdout})
    })
  })
}
