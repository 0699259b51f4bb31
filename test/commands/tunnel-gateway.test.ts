// `restwire tunnel gateway` end to end: the built CLI in a child process, its HTTP API called with curl.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {Router} from '../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../src/core/ssh/authorized-keys.js'
import {exposeNode} from '../../src/core/tunnel/index.js'
import {restwire, spawnCli} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {makeNodeHostKey} from '../helpers/tunnel-fixture.js'
import {skipWithout, tool} from '../helpers/tools.js'

function curl(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool('curl'), ['-sS', '--fail', url], {timeout: 30_000}, (error, stdout, stderr) => (error ? reject(new Error(stderr || error.message)) : resolve(stdout)))
  })
}

describe('restwire tunnel gateway', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-tunnel-gateway-')
  const children: Array<() => void> = []
  after(() => {
    for (const kill of children) kill()
  })

  it('listens, serves GET /nodes, calls a node that dials in, logs it, and exits 0 on SIGTERM', {skip: skipWithout('curl')}, async () => {
    const home = join(dir(), 'home')
    const args = ['tunnel', 'gateway', '--listen', '0', '--http', '127.0.0.1:0', '--log-format', 'json', '--accept-new']
    const gateway = spawnCli(args, {RESTWIRE_HOME: home})
    children.push(() => gateway.child.kill('SIGKILL'))
    const waitForLog = gateway.waitForLine
    const listening = await waitForLog(/"event":"listening"/)
    const event = JSON.parse(listening) as {event: string; port: number; http: string; knownNodes: string}
    assert.equal(event.event, 'listening')
    assert.ok(event.port > 0)
    assert.match(event.http, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(event.knownNodes, join(home, 'known_nodes'))
    assert.equal(await curl(`${event.http}/nodes`), '[]')

    // The home's client key (created on first run) is authorized in the home's authorized_keys.
    const hostKey = await makeNodeHostKey(dir(), 'node_host_key')
    const node = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(join(home, 'authorized_keys')),
      hostKeys: [{privateKey: hostKey.key.privateKey}],
      nodeId: 'cli-node',
      once: true,
      router: new Router().route('GET', '/hello', () => ({hello: 'from the node'})),
      to: {host: '127.0.0.1', port: event.port},
    })
    children.push(() => void node.close())
    const connected = JSON.parse(await waitForLog(/"event":"node connected"/)) as {node: string; fingerprint: string}
    assert.equal(connected.node, 'cli-node')
    assert.equal(connected.fingerprint, hostKey.key.fingerprint)
    assert.equal(JSON.parse(await curl(`${event.http}/nodes`))[0].id, 'cli-node')
    assert.equal(await curl(`${event.http}/nodes/cli-node/hello`), '{"hello":"from the node"}')
    await node.close()
    assert.equal(JSON.parse(await waitForLog(/"event":"node disconnected"/)).node, 'cli-node')

    assert.equal(await gateway.stop('SIGTERM'), 0, gateway.stderr.join('\n'))
  })

  it('shows the HTTP API and examples in --help, and rejects a bad --http', async () => {
    const help = await restwire(['tunnel', 'gateway', '--help'], {})
    assert.equal(help.code, 0, help.stderr)
    assert.match(help.stdout, /--http/)
    assert.match(help.stdout, /\/nodes\/<id>\/<path>/)
    assert.match(help.stdout, /application\/x-ndjson/)
    for (const flag of ['--login-grace', '--max-startups', '--max-in-flight', '--max-http-connections']) assert.match(help.stdout, new RegExp(flag))
    const bad = await restwire(['tunnel', 'gateway', '--http', 'nope'], {RESTWIRE_HOME: join(dir(), 'home2')})
    assert.equal(bad.code, 2, bad.stderr)
    assert.match(bad.stderr, /HOST:PORT/)
  })
})
