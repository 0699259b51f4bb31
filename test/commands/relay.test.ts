// The built CLI end to end: `relay start` in a child process, `relay send`, `relay check`, socat as a raw
// peer, SIGHUP reload, exit codes, and prompts on a pseudo-terminal.
import assert from 'node:assert/strict'
import {execFile, execFileSync, spawn} from 'node:child_process'
import {renameSync, statSync, unlinkSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {after, before, describe, it} from 'node:test'
import {parseRelayAddress} from '../../src/core/relay/address.js'
import {restwire, root, spawnCli} from '../helpers/cli.js'
import {deepJsonText} from '../helpers/hostile.js'
import {type RelayProcess, startRelayCli} from '../helpers/relay-cli.js'
import {LineClient, type Upstream, startUpstream} from '../helpers/relay-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

const SECRET = 'tok-very-secret-123'

describe('relay commands', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-relay-cli-')
  let upstream: Upstream
  let relay: RelayProcess
  let configPath: string

  const writeConfig = (path: string, requests: Record<string, unknown>): void => writeFileSync(path, JSON.stringify({requests}))
  const baseRequests = (): Record<string, unknown> => ({
    create: {body: 'json', expect: 200, method: 'POST', url: `${upstream.origin}/echo`},
    hang: {method: 'GET', timeout: '200ms', url: `${upstream.origin}/hang`},
    refused: {method: 'GET', url: 'http://127.0.0.1:1/'},
    status: {method: 'GET', url: `${upstream.origin}/status/{code}`},
    user: {auth: {token_env: 'RELAY_TEST_TOKEN', type: 'bearer'}, method: 'GET', url: `${upstream.origin}/user/{user_id}`},
  })
  const send = (args: string[]) => restwire(['relay', 'send', '--to', relay.address, ...args], {})

  before(async () => {
    upstream = await startUpstream()
    configPath = join(dir(), 'relay.json')
    writeConfig(configPath, baseRequests())
    relay = await startRelayCli(['--config', configPath, '--listen', 'tcp://127.0.0.1:0'], {RELAY_TEST_TOKEN: SECRET})
  })

  after(async () => {
    await relay?.stop()
    await upstream?.close()
  })

  it('relay send: prints the final reply as one JSON line when piped, exits 0; one log line, no secret', async () => {
    const result = await send(['user', '--params', 'user_id=7'])
    assert.equal(result.code, 0, result.stderr)
    const reply = JSON.parse(result.stdout) as Record<string, unknown>
    assert.equal(reply.status, 'ok')
    assert.deepEqual((reply.response as {id: string}).id, '7')
    assert.equal(reply.http_status, 200)
    assert.equal(upstream.seen.at(-1)!.headers.authorization, `Bearer ${SECRET}`)
    const log = JSON.parse(await relay.waitForLine(/"request":"user"/)) as Record<string, unknown>
    assert.equal(log.status, 'ok')
    assert.equal(log.httpStatus, 200)
    assert.equal(typeof log.timeMs, 'number')
    assert.equal(log.id, '1')
    assert.ok(!relay.stderr.join('\n').includes(SECRET), 'the token never reaches the log')
  })

  it('relay send: --params @file, --data @file and --json', async () => {
    const params = join(dir(), 'params.json')
    writeFileSync(params, '{"user_id": "from file"}')
    const byFile = await send(['user', '--params', `@${params}`, '--json'])
    assert.equal(byFile.code, 0)
    assert.deepEqual((JSON.parse(byFile.stdout) as {body: {id: string}}).body.id, 'from file')
    const data = join(dir(), 'data.json')
    writeFileSync(data, '{"name": "ada"}')
    const created = await send(['create', '--data', `@${data}`])
    assert.equal(created.code, 0)
    assert.equal((JSON.parse(created.stdout) as {response: {body: string}}).response.body, '{"name":"ada"}')
  })

  it('relay send: exit codes 8 (4xx), 9 (5xx), 2 (unknown name, missing placeholder), 13 (upstream refused), 7 (timeout), 3 (no relay)', async () => {
    const notFound = await send(['status', '-p', 'code=404'])
    assert.equal(notFound.code, 8)
    assert.equal((JSON.parse(notFound.stdout) as {http_status: number}).http_status, 404)
    assert.match(notFound.stderr, /status failed/)
    assert.equal((await send(['status', '-p', 'code=503'])).code, 9)
    const unknown = await send(['nope'])
    assert.equal(unknown.code, 2)
    assert.match(unknown.stdout, /unknown request \\"nope\\"/)
    assert.equal((await send(['user'])).code, 2)
    assert.equal((await send(['refused'])).code, 13)
    assert.equal((await send(['hang'])).code, 7)
    const nobody = await restwire(['relay', 'send', 'user', '-p', 'user_id=1', '--to', `unix:${join(dir(), 'nobody.sock')}`], {})
    assert.equal(nobody.code, 3)
    assert.match(nobody.stderr, /cannot connect to the relay at unix:.*nobody\.sock/)
  })

  it('relay send: without NAME and no terminal, a usage error naming what to pass', async () => {
    const missing = await restwire(['relay', 'send', '--to', relay.address], {})
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /missing NAME/)
    const interactive = await restwire(['relay', 'send', '--interactive', '--config', configPath, '--to', relay.address], {})
    assert.equal(interactive.code, 2)
    assert.match(interactive.stderr, /--interactive needs a terminal/)
  })

  it('socat as a raw peer: \\r\\n lines in, dispatched and ok lines out, over TCP', {skip: skipWithout('socat')}, async () => {
    const {port} = parseRelayAddress(relay.address, 'listen') as {port: number}
    const socat = spawn(tool('socat'), ['-', `TCP:127.0.0.1:${port}`], {stdio: ['pipe', 'pipe', 'inherit']})
    const lines: string[] = []
    const finals = new Promise<void>((resolve) => {
      createInterface({input: socat.stdout!}).on('line', (line) => {
        lines.push(line)
        if (lines.filter((l) => !l.includes('"dispatched"')).length === 2) resolve()
      })
    })
    socat.stdin!.write('{"request": "user", "id": "s1", "params": {"user_id": 1}}\r\nnot json\r\n')
    await finals
    // The client's EOF is its disconnect: socat ends once the relay closes.
    socat.stdin!.end()
    await new Promise((resolve) => socat.once('exit', resolve))
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    assert.equal(parsed.length, 3)
    assert.equal(parsed[0]!.status, 'dispatched')
    assert.ok(parsed.some((r) => r.status === 'ok' && r.id === 's1'))
    assert.ok(parsed.some((r) => r.status === 'error' && r.id === null))
  })

  it('the request log: requests still in flight at SIGTERM finish, and every line is written before "relay stopped"', async () => {
    const own = await startRelayCli(['--config', configPath, '--listen', 'tcp://127.0.0.1:0'], {RELAY_TEST_TOKEN: SECRET})
    let client: LineClient | undefined
    try {
      client = await LineClient.connect(parseRelayAddress(own.address, 'listen'))
      for (let id = 0; id < 200; id++) client.send({data: {id}, id, request: 'create'})
      await client.waitFor((reply) => reply.status === 'dispatched', 200)
      assert.equal(await own.stop('SIGTERM'), 0)
    } finally {
      client?.close()
      await own.stop('SIGKILL')
    }

    const requestLines = own.stderr.filter((line) => line.includes('"request":"create"'))
    assert.equal(requestLines.length, 200, own.stderr.slice(-5).join('\n'))
    const stopping = own.stderr.findIndex((line) => line.includes('SIGTERM: finishing requests in flight'))
    assert.ok(stopping > 0)
    assert.equal(own.stderr.at(-1), 'relay stopped')
  })

  it('SIGHUP reloads the config; an open connection stays open; an invalid file keeps the old config', async () => {
    const client = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
    try {
      client.send({id: 1, params: {user_id: 1}, request: 'user'})
      assert.equal((await client.final(1)).status, 'ok')
      writeConfig(configPath, {...baseRequests(), whoami: {method: 'GET', url: `${upstream.origin}/user/me`}})
      let mark = relay.stderr.length
      relay.child.kill('SIGHUP')
      assert.match(await relay.waitForLine(/config reloaded/, mark), /"requests":6/)
      client.send({id: 2, request: 'whoami'})
      assert.deepEqual(((await client.final(2)).response as {id: string}).id, 'me')
      writeFileSync(configPath, '{"requests": {"broken": {"method": "GET"}}}')
      mark = relay.stderr.length
      relay.child.kill('SIGHUP')
      assert.match(await relay.waitForLine(/reload failed/, mark), /requests\.broken\.url/)
      client.send({id: 3, request: 'whoami'})
      assert.equal((await client.final(3)).status, 'ok')
      assert.equal(client.closed, false)
    } finally {
      client.close()
      writeConfig(configPath, baseRequests())
    }
  })

  it('relay check: --json, JSON lines when piped, exit 2 naming request and field', async () => {
    const json = await restwire(['relay', 'check', '--config', configPath, '--json'], {RELAY_TEST_TOKEN: 'x'})
    assert.equal(json.code, 0, json.stderr)
    const result = JSON.parse(json.stdout) as {requests: Array<{name: string; placeholders: string[]; auth: string | null}>}
    const user = result.requests.find((r) => r.name === 'user')!
    assert.deepEqual(user.placeholders, ['user_id'])
    assert.equal(user.auth, 'bearer')
    const piped = await restwire(['relay', 'check', '--config', configPath], {RELAY_TEST_TOKEN: 'x'})
    assert.equal(piped.stdout.trim().split('\n').length, 5)
    const unset = await restwire(['relay', 'check', '--config', configPath], {RELAY_TEST_TOKEN: ''})
    assert.equal(unset.code, 2)
    assert.match(unset.stderr, /requests\.user\.auth\.token_env: environment variable RELAY_TEST_TOKEN is not set/)
  })

  it('relay check on a terminal: a table', {skip: skipWithout('python3')}, async () => {
    const {code, output} = await onTerminal([], ['relay', 'check', '--config', configPath], {RELAY_TEST_TOKEN: 'x'})
    assert.equal(code, 0, output)
    assert.match(output, /NAME\s+METHOD\s+URL\s+EXPECT/)
    assert.match(output, /user\s+GET\s+http:\/\/127\.0\.0\.1:\d+\/user\/\{user_id\}\s+200\s+bearer/)
  })

  it('relay send --interactive on a terminal: pick the request, fill its placeholder', {skip: skipWithout('python3')}, async () => {
    const steps = [['Request', '\u001b[B\u001b[B\u001b[B\u001b[B\r'], ['user_id', 'picked\r']]
    const {code, output} = await onTerminal(steps, ['relay', 'send', '--interactive', '--config', configPath, '--to', relay.address], {})
    assert.equal(code, 0, output)
    assert.match(output, /"picked"/)
  })

  it('UNIX socket: --socket-mode applies; a second relay on a live socket is refused (exit 3)', async () => {
    const path = join(dir(), 'relay.sock')
    const unix = await startRelayCli(['--config', configPath, '--listen', `unix:${path}`, '--socket-mode', '0660'], {RELAY_TEST_TOKEN: SECRET})
    try {
      assert.equal(statSync(path).mode & 0o777, 0o660)
      const ok = await restwire(['relay', 'send', 'user', '-p', 'user_id=u', '--to', `unix:${path}`], {})
      assert.equal(ok.code, 0, ok.stderr)
      const second = await restwire(['relay', 'start', '--config', configPath, '--listen', `unix:${path}`], {RELAY_TEST_TOKEN: SECRET})
      assert.equal(second.code, 3)
      assert.match(second.stderr, /another process is listening on/)
    } finally {
      assert.equal(await unix.stop('SIGTERM'), 0)
    }
  })

  it('relay start: a TCP address in use exits 3', async () => {
    const taken = await restwire(['relay', 'start', '--config', configPath, '--listen', relay.address], {RELAY_TEST_TOKEN: SECRET})
    assert.equal(taken.code, 3)
    assert.match(taken.stderr, /cannot listen on tcp:\/\/127\.0\.0\.1:\d+: address in use/)
  })

  it('text log: a request name holding CR/LF and ESC stays one escaped line', async () => {
    const text = spawnCli(['relay', 'start', '--log-format', 'text', '--config', configPath, '--listen', 'tcp://127.0.0.1:0'], {RELAY_TEST_TOKEN: SECRET})
    try {
      const address = /tcp:\/\/127\.0\.0\.1:\d+/.exec(await text.waitForLine(/listening on/))![0]
      const client = await LineClient.connect(parseRelayAddress(address, 'listen'))
      client.send(JSON.stringify({id: 'e\u001b[2J', request: 'evil\r\n2026-01-01T00:00:00.000Z forged ok 200\u001b[31m'}) + '\n')
      await client.waitFor((r) => r.status === 'error')
      client.close()
      const line = await text.waitForLine(/evil/)
      assert.match(line, /evil\\x0d\\x0a2026-01-01T00:00:00\.000Z forged ok 200\\x1b\[31m id="e\\u001b\[2J" error - RW_ERR_RELAY_REQUEST/)
      assert.ok(!text.stderr.some((entry) => entry.startsWith('2026-01-01T00:00:00.000Z forged')), 'no forged line')
      assert.ok(!text.stderr.join('\n').includes('\u001b'), 'no raw escape')
    } finally {
      assert.equal(await text.stop('SIGTERM'), 0)
    }
  })

  it('a password written in a URL is masked by relay check (table, JSON lines, --json) and never logged by relay start', {skip: skipWithout('python3')}, async () => {
    const path = join(dir(), 'userinfo.json')
    const url = `${upstream.origin.replace('//', '//bot:hunter2-pw@')}/user/{user_id}`
    writeConfig(path, {user: {method: 'GET', url}})
    const masked = `${upstream.origin.replace('//', '//bot:***@')}/user/{user_id}`
    const json = await restwire(['relay', 'check', '--config', path, '--json'], {})
    assert.equal(json.code, 0, json.stderr)
    assert.equal((JSON.parse(json.stdout) as {requests: Array<{url: string}>}).requests[0]!.url, masked)
    const piped = await restwire(['relay', 'check', '--config', path], {})
    assert.equal((JSON.parse(piped.stdout) as {url: string}).url, masked)
    const table = await onTerminal([], ['relay', 'check', '--config', path], {})
    assert.ok(table.output.includes(masked), table.output)
    for (const output of [json.stdout, json.stderr, piped.stdout, piped.stderr, table.output]) assert.ok(!output.includes('hunter2'), output)
    const started = await startRelayCli(['--config', path, '--listen', 'tcp://127.0.0.1:0'], {})
    try {
      const client = await LineClient.connect(parseRelayAddress(started.address, 'listen'))
      client.send({id: 1, params: {user_id: 1}, request: 'user'})
      await client.final(1)
      client.close()
      // A reload that fails on this URL names the field, not the password.
      writeConfig(path, {user: {method: 'GET', url: 'ftp://bot:hunter2-pw@host/x'}})
      const mark = started.stderr.length
      started.child.kill('SIGHUP')
      assert.match(await started.waitForLine(/reload failed/, mark), /bot:\*\*\*@host/)
      assert.ok(!started.stderr.join('\n').includes('hunter2'), started.stderr.join('\n'))
    } finally {
      await started.stop()
    }
  })

  it('a config path that is a FIFO: refused at start (exit 2) and on SIGHUP (old config kept, reason logged), never blocking', async () => {
    const fifo = join(dir(), 'fifo.json')
    execFileSync('mkfifo', [fifo])
    const refused = await restwire(['relay', 'start', '--config', fifo, '--listen', 'tcp://127.0.0.1:0'], {})
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /is not a regular file/)
    const path = join(dir(), 'swapped.json')
    writeConfig(path, baseRequests())
    const started = await startRelayCli(['--config', path, '--listen', 'tcp://127.0.0.1:0'], {RELAY_TEST_TOKEN: SECRET})
    try {
      renameSync(path, join(dir(), 'aside.json'))
      execFileSync('mkfifo', [path])
      let mark = started.stderr.length
      started.child.kill('SIGHUP')
      const failed = await started.waitForLog(/reload failed/, mark)
      assert.match(String(failed.reason), /not a regular file/)
      const client = await LineClient.connect(parseRelayAddress(started.address, 'listen'))
      client.send({id: 1, params: {user_id: 1}, request: 'user'})
      assert.equal((await client.final(1)).status, 'ok', 'the old config still serves')
      unlinkSync(path)
      writeConfig(path, {...baseRequests(), whoami: {method: 'GET', url: `${upstream.origin}/user/me`}})
      mark = started.stderr.length
      started.child.kill('SIGHUP')
      await started.waitForLine(/config reloaded/, mark)
      client.send({id: 2, request: 'whoami'})
      assert.equal((await client.final(2)).status, 'ok', 'a later reload works')
      client.close()
    } finally {
      assert.equal(await started.stop(), 0)
    }
  })

  it('relay send against a hostile relay: silence (exit 7), reset (exit 3), a reply nested 100,000 deep (exit 11); never a stack trace', async () => {
    const behaviours: Record<string, (socket: import('node:net').Socket) => void> = {
      deep: (socket) => socket.once('data', () => socket.write(`{"status":"ok","id":1,"response":${deepJsonText(100_000)}}\n`)),
      reset: (socket) => socket.once('data', () => socket.resetAndDestroy()),
      silent: () => {},
    }
    for (const [name, expected] of [['silent', 7], ['reset', 3], ['deep', 11]] as const) {
      const sockets = new Set<import('node:net').Socket>()
      const server = createServer((socket) => {
        sockets.add(socket)
        socket.on('error', () => {})
        behaviours[name]!(socket)
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        const {port} = server.address() as {port: number}
        const result = await restwire(['relay', 'send', 'user', '--to', `tcp://127.0.0.1:${port}`, '--timeout', '1s'], {})
        assert.equal(result.code, expected, `${name}: ${result.stderr}`)
        assert.doesNotMatch(result.stderr, /\n\s+at /, `${name}: no stack trace`)
      } finally {
        for (const socket of sockets) socket.destroy()
        await new Promise((resolve) => server.close(resolve))
      }
    }
  })

  it('relay start: an invalid config exits 2 before listening; --help has examples', async () => {
    const bad = join(dir(), 'bad.json')
    writeFileSync(bad, '{"requests": {"x": {"method": "GET", "url": "https://{evil}/"}}}')
    const result = await restwire(['relay', 'start', '--config', bad, '--listen', 'tcp://127.0.0.1:0'], {})
    assert.equal(result.code, 2)
    assert.match(result.stderr, /requests\.x\.url: placeholders are not allowed/)
    for (const command of ['start', 'send', 'check']) assert.match((await restwire(['relay', command, '--help'], {})).stdout, /EXAMPLES/)
  })
})

function onTerminal(steps: string[][], args: string[], env: Record<string, string>): Promise<{code: number; output: string}> {
  const driver = join(root, 'test', 'fixtures', 'tty-driver.py')
  return new Promise((resolve) => {
    execFile(tool('python3'), [driver, JSON.stringify(steps), '--', process.execPath, join(root, 'bin', 'run.js'), ...args], {env: {...process.env, ...env}, timeout: 90_000}, (error, stdout) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, output: stdout})
    })
  })
}
