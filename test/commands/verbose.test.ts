// `-v` traces of the call commands against real servers: korv (SSH), tunnel and pipe (HTTP to a gateway),
// relay (line JSON). The trace names the address, the host key, the key accepted, the exchange and the
// timings, on stderr only; it never shows a credential, a private key or a body; without -v there is none.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {appendFile, readFile, writeFile} from 'node:fs/promises'
import {type Server, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {loadPrivateKey} from '../../src/core/ssh/private-key.js'
import {addTunnelDemoRoutes} from '../../src/core/tunnel/demo-routes.js'
import {Router} from '../../src/core/tunnel/index.js'
import {type ServeProcess, restwire, root, startServe} from '../helpers/cli.js'
import {type PipeProcess, startPipeProcess} from '../helpers/pipe-cli.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {type RelayProcess, startRelayCli} from '../helpers/relay-cli.js'
import {type Upstream, startUpstream} from '../helpers/relay-fixture.js'
import {makeKeyWithSshKeygen, sshKeygen, useTempDir} from '../helpers/ssh-tools.js'
import {type HomeTunnel, startHomeTunnel} from '../helpers/tunnel-fixture.js'
import {skipWithout, tool} from '../helpers/tools.js'

/** Runs the CLI on a pseudo-terminal (stdout and stderr both): what it wrote. */
function onTerminal(args: string[], env: Record<string, string>): Promise<string> {
  const terminalEnv: NodeJS.ProcessEnv = {...process.env, ...env, TERM: 'xterm'}
  delete terminalEnv.NO_COLOR
  delete terminalEnv.FORCE_COLOR
  const command = ['[]', '--', process.execPath, join(root, 'bin', 'run.js'), ...args]
  return new Promise((resolve) => {
    execFile(tool('python3'), [join(root, 'test', 'fixtures', 'tty-driver.py'), ...command], {env: terminalEnv, timeout: 60_000}, (_error, stdout) => resolve(stdout))
  })
}

/** Every trace line starts with `* `, `> ` or `< ` (curl -v's prefixes). */
const traceLines = (stderr: string): string[] => stderr.split('\n').filter((line) => /^[*<>] /.test(line))

describe('-v traces', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-verbose-')

  describe('korv call', () => {
    let env: Record<string, string>
    let serve: ServeProcess

    before(async () => {
      env = {RESTWIRE_HOME: join(dir(), 'korv-home')}
      serve = await startServe(['--demo'], env)
    })
    after(async () => {
      await serve?.stop('SIGKILL')
    })

    it('traces address, algorithms, host key and its check, the key accepted, the exchange and timings; never the private key', async () => {
      const port = String(serve.port)
      const call = (...extra: string[]) => restwire(['korv', 'call', 'STORE', '/echo', '--data', '{"password":"hunter2-body"}', '--to', port, ...extra], env)
      const first = await call('-v')
      assert.equal(first.code, 0, first.stderr)
      assert.equal(first.stdout, '{"password":"hunter2-body"}\n', 'stdout is the body, as without -v')
      const hostKey = await loadPrivateKey(join(env.RESTWIRE_HOME!, 'host_ed25519_key'))
      const clientKeyPath = join(env.RESTWIRE_HOME!, 'id_ed25519')
      const clientKey = await loadPrivateKey(clientKeyPath)
      const trace = first.stderr
      assert.equal(traceLines(trace).length, trace.trimEnd().split('\n').length, `every stderr line is a trace line:\n${trace}`)
      assert.match(trace, new RegExp(`^\\* Trying 127\\.0\\.0\\.1 port ${port}`, 'm'))
      assert.match(trace, /^\* Connected to 127\.0\.0\.1 port \d+ \(connect [\d.]+ ms\)$/m)
      assert.match(trace, /^\* kex: \S+, host key algorithm: ssh-ed25519$/m)
      assert.match(trace, /^\* cipher client->server: \S+ MAC: \S+ compression: none$/m)
      assert.ok(trace.includes(`* Server host key: ssh-ed25519 ${hostKey.fingerprint}`), trace)
      assert.match(trace, /^\* Host key unknown; added to .*known_hosts \(accept-new\)$/m)
      assert.match(trace, /^\* SSH handshake done \(handshake [\d.]+ ms\)$/m)
      assert.ok(trace.includes(`* Authenticated using publickey ${clientKeyPath} ssh-ed25519 ${clientKey.fingerprint}`), trace)
      assert.match(trace, /^> STORE \/echo \[body: 27 bytes of JSON\]$/m)
      assert.match(trace, /^< 201 \(request_id 1\) \[body: 27 bytes of JSON\]$/m)
      assert.match(trace, /^\* Total [\d.]+ ms/m)
      assert.ok(!trace.includes('hunter2'), 'bodies are shown as sizes')
      const privateKeyText = await readFile(clientKeyPath, 'utf8')
      for (const line of privateKeyText.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) assert.ok(!trace.includes(line), 'no private key material')

      // Second call: the key is now in known_hosts, and the trace says on which line.
      const second = await call('-v', '--json')
      assert.equal(second.code, 0, second.stderr)
      assert.equal((JSON.parse(second.stdout) as {status: number}).status, 201, 'with --json, stdout stays the JSON document')
      assert.match(second.stderr, /^\* Host key matches .*known_hosts:1$/m)

      const quiet = await call()
      assert.equal(quiet.code, 0)
      assert.equal(quiet.stderr, '', 'no trace without -v')
    })

    it('an encrypted -i key: its path and fingerprint, never its passphrase; a refused host key is traced before the error', {skip: skipWithout('ssh-keygen')}, async () => {
      const passphrase = 'correct-horse-verbose'
      const keyPath = await makeKeyWithSshKeygen(dir(), 'id_verbose', 'ed25519', {passphrase})
      await appendFile(join(env.RESTWIRE_HOME!, 'authorized_keys'), await readFile(`${keyPath}.pub`, 'utf8'))
      const fingerprint = (await sshKeygen('-l', '-E', 'sha256', '-f', `${keyPath}.pub`)).split(' ')[1]!
      const port = String(serve.port)
      const withKey = {...env, RESTWIRE_KEY_PASSPHRASE: passphrase}
      const result = await restwire(['korv', 'call', 'GET', '/hello', '--to', port, '-i', keyPath, '-v'], withKey)
      assert.equal(result.code, 0, result.stderr)
      assert.ok(result.stderr.includes(`* Authenticated using publickey ${keyPath} ssh-ed25519 ${fingerprint}`), result.stderr)
      assert.ok(!result.stderr.includes(passphrase), 'no passphrase in the trace')

      const emptyKnownHosts = join(dir(), 'empty_known_hosts')
      await writeFile(emptyKnownHosts, '')
      const refused = await restwire(['korv', 'call', 'GET', '/hello', '--to', port, '-i', keyPath, '--known-hosts', emptyKnownHosts, '-v'], withKey)
      assert.equal(refused.code, 5, refused.stderr)
      assert.match(refused.stderr, /^\* Host key check failed: unknown \(.*empty_known_hosts\)$/m)
      assert.match(refused.stderr, /RW_ERR_HOST_KEY_UNKNOWN/)
    })

    it('--batch -v: one > and one < line per request, with its batch id', async () => {
      const input = '{"id":"a","verb":"GET","path":"/hello"}\n{"id":"b","verb":"GET","path":"/missing"}\n'
      const result = await restwire(['korv', 'call', '--batch', '-', '--to', String(serve.port), '-v'], env, input)
      assert.equal(result.code, 8, result.stderr)
      assert.equal(result.stdout.trim().split('\n').length, 2)
      assert.match(result.stderr, /^> GET \/hello \(batch id "a"\) \[body: 4 bytes of JSON\]$/m)
      assert.match(result.stderr, /^> GET \/missing \(batch id "b"\)/m)
      assert.match(result.stderr, /^< 404 \(request_id \d\)/m)
    })

    it('dim on a terminal; plain when piped (the assertions above) or with --color never', {skip: skipWithout('python3')}, async () => {
      const args = ['korv', 'call', 'GET', '/hello', '--to', String(serve.port), '-v']
      const coloured = await onTerminal(args, env)
      assert.ok(coloured.includes('\u001B[2m* Trying 127.0.0.1'), coloured)
      const plain = await onTerminal([...args, '--color', 'never'], env)
      assert.match(plain, /^\* Trying 127\.0\.0\.1/m)
      assert.ok(!plain.includes('\u001B['), plain)
    })

    it('--insecure: the trace says the key was not verified', async () => {
      const result = await restwire(['korv', 'call', 'GET', '/hello', '--to', String(serve.port), '--insecure', '--verbose'], env)
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stderr, /^\* Host key not verified \(--insecure\)$/m)
    })
  })

  describe('tunnel call and nodes', () => {
    let env: Record<string, string>
    let api: string
    let tunnel: HomeTunnel | undefined
    after(() => tunnel?.close())

    before(async () => {
      tunnel = await startHomeTunnel(join(dir(), 'tunnel'), 'api-1', addTunnelDemoRoutes(new Router()))
      ;({api, env} = tunnel)
    })

    it('tunnel call -v: the HTTP request and response lines and headers, body sizes, timings', async () => {
      const result = await restwire(['tunnel', 'call', 'api-1', 'POST', '/create', '--data', '{"name":"ada-secret"}', '--to', api, '-v'], env)
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stdout, '{"name":"ada-secret"}\n')
      const trace = result.stderr
      const port = new URL(api).port
      assert.match(trace, new RegExp(`^\\* Trying 127\\.0\\.0\\.1 port ${port}\\.\\.\\.$`, 'm'))
      assert.match(trace, new RegExp(`^\\* Connected to 127\\.0\\.0\\.1 \\(127\\.0\\.0\\.1\\) port ${port} \\(connect [\\d.]+ ms\\)$`, 'm'))
      assert.match(trace, /^> POST \/nodes\/api-1\/create HTTP\/1\.1$/m)
      assert.match(trace, /^> content-type: application\/json$/m)
      assert.match(trace, /^> \[21 bytes of body\]$/m)
      assert.match(trace, /^< HTTP\/1\.1 201 Created$/m)
      assert.match(trace, /^< content-type: application\/json/im)
      assert.match(trace, /^< \[21 bytes of body\]$/m)
      assert.match(trace, /^\* First byte after [\d.]+ ms$/m)
      assert.match(trace, /^\* Total [\d.]+ ms$/m)
      assert.ok(!trace.includes('ada-secret'), 'bodies are shown as sizes')
      const quiet = await restwire(['tunnel', 'call', 'api-1', 'GET', '/home', '--to', api], env)
      assert.equal(quiet.stderr, '')
    })

    it('tunnel nodes -v and --json: the trace on stderr, the JSON alone on stdout', async () => {
      const result = await restwire(['tunnel', 'nodes', '--to', api, '-v', '--json'], env)
      assert.equal(result.code, 0, result.stderr)
      assert.deepEqual((JSON.parse(result.stdout) as Array<{id: string}>).map((node) => node.id), ['api-1'])
      assert.match(result.stderr, /^> GET \/nodes HTTP\/1\.1$/m)
      assert.match(result.stderr, /^< HTTP\/1\.1 200 OK$/m)
    })
  })

  describe('pipe call', {skip: skipWithout('openssl')}, () => {
    let hub: PipeProcess
    let node: PipeProcess
    let hubHttp: string
    let cookieServer: Server

    before(async () => {
      const pki = await makePipePki(dir())
      hub = await startPipeProcess(['serve', '--ca', pki.dir, '--listen', '0', '--http', '127.0.0.1:0'], /"event":"listening"/)
      const listening = await hub.waitForLog(/"event":"listening"/)
      hubHttp = listening.http as string
      node = await startPipeProcess(['connect', '--to', `127.0.0.1:${listening.port as number}`, '--hub-name', 'hub', '--ca', pki.dir, '--name', 'node-a', '--builtins', '--http', '127.0.0.1:0'], /"event":"started"/)
      await hub.waitForLog(/"event":"node connected"/)
      // A gateway stand-in that answers with credentials in its headers: the trace must mask them.
      cookieServer = createServer((_request, response) => {
        response.setHeader('set-cookie', 'session=cookie-secret-value')
        response.setHeader('x-api-key', 'key-secret-value')
        response.setHeader('x-event-return-code', '0')
        response.end('ok')
      })
      await new Promise<void>((resolve) => cookieServer.listen(0, '127.0.0.1', resolve))
    })
    after(async () => {
      await node?.stop('SIGKILL')
      await hub?.stop('SIGKILL')
      cookieServer?.close()
    })

    it('pipe call -v against a hub: request line, status, X-Event-Return-Code, sizes, timings', async () => {
      const result = await restwire(['pipe', 'call', 'GET', '/client/node-a/time', '--to', hubHttp, '-v'], {})
      assert.equal(result.code, 0, result.stderr)
      assert.ok(result.stdout.length > 0)
      assert.match(result.stderr, /^> GET \/client\/node-a\/time HTTP\/1\.1$/m)
      assert.match(result.stderr, /^< HTTP\/1\.1 200 OK$/m)
      assert.match(result.stderr, /^< x-event-return-code: 0$/im)
      assert.match(result.stderr, /^< \[\d+ bytes of body\]$/m)
      assert.match(result.stderr, /^\* Total [\d.]+ ms$/m)
      const quiet = await restwire(['pipe', 'call', 'GET', '/client/node-a/time', '--to', hubHttp], {})
      assert.equal(quiet.stderr, '')
    })

    it('masks credential headers', async () => {
      const gateway = `http://127.0.0.1:${(cookieServer.address() as AddressInfo).port}`
      const result = await restwire(['pipe', 'call', 'GET', '/server/anything', '--to', gateway, '-v'], {})
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stdout, 'ok')
      assert.match(result.stderr, /^< set-cookie: <masked, \d+ bytes>$/im)
      assert.match(result.stderr, /^< x-api-key: <masked, \d+ bytes>$/im)
      assert.ok(!result.stderr.includes('secret-value'), result.stderr)
    })
  })

  describe('relay send', () => {
    const SECRET = 'tok-verbose-secret-42'
    let upstream: Upstream
    let relay: RelayProcess

    before(async () => {
      upstream = await startUpstream()
      const configPath = join(dir(), 'relay.json')
      const {writeFile} = await import('node:fs/promises')
      await writeFile(configPath, JSON.stringify({requests: {user: {auth: {token_env: 'RELAY_TEST_TOKEN', type: 'bearer'}, method: 'GET', url: `${upstream.origin}/user/{user_id}`}}}))
      relay = await startRelayCli(['--config', configPath, '--listen', 'tcp://127.0.0.1:0'], {RELAY_TEST_TOKEN: SECRET})
    })
    after(async () => {
      await relay?.stop()
      await upstream?.close()
    })

    it('relay send -v: the address, the line sent with params as sizes, dispatched and final lines, timings', async () => {
      const result = await restwire(['relay', 'send', 'user', '--params', 'user_id=private-id-77', '--to', relay.address, '-v'], {})
      assert.equal(result.code, 0, result.stderr)
      assert.equal((JSON.parse(result.stdout) as {status: string}).status, 'ok')
      const trace = result.stderr
      assert.ok(trace.includes(`* Trying ${relay.address}...`), trace)
      assert.match(trace, /^\* Connected to tcp:\/\/127\.0\.0\.1:\d+ \(connect [\d.]+ ms\)$/m)
      assert.match(trace, /^> request "user", id 1, params: user_id \(15 bytes\) \[line: \d+ bytes\]$/m)
      assert.match(trace, /^< dispatched \(after [\d.]+ ms\)$/m)
      assert.match(trace, /^< ok, http_status 200, time [\d.]+ \[response: \d+ bytes of JSON\]$/m)
      assert.match(trace, /^\* Total [\d.]+ ms$/m)
      assert.ok(!trace.includes('private-id-77'), 'params are shown as sizes')
      assert.ok(!trace.includes(SECRET))
      const quiet = await restwire(['relay', 'send', 'user', '--params', 'user_id=1', '--to', relay.address], {})
      assert.equal(quiet.stderr, '')
    })
  })
})
