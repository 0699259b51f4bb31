// `korv call` and `korv serve` against hostile or awkward input, through the built CLI.
import assert from 'node:assert/strict'
import {type Server, type Socket, createServer} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type ServeProcess, restwire, spawnCli, startServe} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'

describe('restwire korv call against a server that never speaks SSH', () => {
  const dir = useTempDir()
  let silent: Server
  const sockets = new Set<Socket>()

  before(async () => {
    silent = createServer((socket) => {
      socket.on('error', () => {})
      sockets.add(socket)
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  })
  after(() => {
    for (const socket of sockets) socket.destroy()
    silent.close()
  })

  it('exits 7 with the restwire error only, with and without --json (no Node stack trace)', async () => {
    const port = String((silent.address() as {port: number}).port)
    const env = {RESTWIRE_HOME: join(dir(), 'home')}
    const text = await restwire(['korv', 'call', 'GET', '/hello', '--to', port, '--connect-timeout', '300ms'], env)
    assert.equal(text.code, 7, text.stderr)
    assert.match(text.stderr, /no SSH handshake with 127\.0\.0\.1:\d+ within 300 ms/)
    assert.doesNotMatch(text.stderr, /node:events|Unhandled 'error'|^\s+at /m)

    const json = await restwire(['korv', 'call', 'GET', '/hello', '--to', port, '--connect-timeout', '300ms', '--json'], env)
    assert.equal(json.code, 7, json.stderr)
    assert.equal((JSON.parse(json.stdout) as {error: {code: string}}).error.code, 'RW_ERR_TIMEOUT')
    assert.doesNotMatch(json.stderr, /node:events|Unhandled 'error'|^\s+at /m)
  })
})

describe('restwire korv serve --demo: flags, logs and tracebacks', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let serve: ServeProcess

  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home')}
    serve = await startServe(['--demo'], env)
  })
  after(async () => {
    await serve?.stop('SIGKILL')
  })

  it('takes the arguments after a repeatable -i as VERB and PATH', async () => {
    const key = join(env.RESTWIRE_HOME!, 'id_ed25519')
    assert.equal((await restwire(['korv', 'call', 'GET', '/hello', '--to', String(serve.port)], env)).code, 0, 'zero-config set-up')
    const result = await restwire(['korv', 'call', '--to', String(serve.port), '-i', key, 'GET', '/hello'], env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, '{"msg":"Hello World!"}\n')
    const twice = await restwire(['korv', 'call', '-i', key, '-i', key, '--to', String(serve.port), 'GET', '/hello'], env)
    assert.equal(twice.code, 0, twice.stderr)
  })

  it('refuses an -i key file that others can read (exit 10, chmod hint)', async () => {
    const {chmod, copyFile} = await import('node:fs/promises')
    const key = join(dir(), 'open_key')
    await copyFile(join(env.RESTWIRE_HOME!, 'id_ed25519'), key)
    await chmod(key, 0o644)
    const result = await restwire(['korv', 'call', '--to', String(serve.port), '-i', key, 'GET', '/hello'], env)
    assert.equal(result.code, 10, result.stderr)
    assert.match(result.stderr, /Permissions 0644/)
    assert.ok(result.stderr.includes(`chmod 600 ${key}`), result.stderr)
  })
})

describe('restwire korv serve --log-format text', () => {
  const dir = useTempDir()

  it('writes a client-controlled path with CR, LF and ESC on one escaped line', async () => {
    const env = {RESTWIRE_HOME: join(dir(), 'home')}
    const cli = spawnCli(['korv', 'serve', '--demo', '--listen', '0'], env)
    try {
      const listening = await cli.waitForLine(/korv listening on/)
      const port = /:(\d+) /.exec(listening)![1]!
      const path = '/x\r\n2030-01-01T00:00:00.000Z GET /forged 200\u001B[2J'
      const result = await restwire(['korv', 'call', 'GET', path, '--to', port], env)
      assert.equal(result.code, 8, result.stderr)
      const line = await cli.waitForLine(/ GET \/x/)
      assert.ok(line.includes('/x\\x0d\\x0a2030-01-01T00:00:00.000Z GET /forged 200\\x1b[2J 404'), line)
      assert.ok(!cli.stderr.some((entry) => entry.startsWith('2030-01-01')), 'no forged line')
      assert.ok(!cli.stderr.some((entry) => entry.includes('\u001B')), 'no raw escape')
    } finally {
      await cli.stop('SIGKILL')
    }
  })
})
