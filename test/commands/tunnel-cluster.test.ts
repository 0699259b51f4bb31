// `tunnel gateway --cluster` as real processes on a real nats-server: a node on one gateway reached
// through the other (request and STREAM), a gateway killed with SIGKILL (a call in flight through it
// gets 503 at once; the node redials the other gateway), a gateway refused for wrong NATS credentials, and
// NATS with a token, TLS or a creds file (operator/JWT mode): joined with them, refused without.
import assert from 'node:assert/strict'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {Router} from '../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../src/core/ssh/authorized-keys.js'
import {type TunnelNodeHandle, exposeNode} from '../../src/core/tunnel/index.js'
import {type CliProcess, restwire, spawnCli} from '../helpers/cli.js'
import {makeNatsOperator} from '../helpers/nats-operator.js'
import {type NatsServer, startNatsServer} from '../helpers/nats-server.js'
import {until} from '../helpers/pipe-cluster-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {makeNodeHostKey, trustNode} from '../helpers/tunnel-fixture.js'
import {skipWithout} from '../helpers/tools.js'

interface Gw {
  name: string
  process: CliProcess
  port: number
  http: string
}

describe('restwire tunnel gateway --cluster', {skip: skipWithout('nats-server'), timeout: 90_000}, () => {
  const dir = useTempDir('restwire-tunnel-cluster-cli-')
  let nats: NatsServer
  let home: string
  const gws: Gw[] = []
  const nodes: TunnelNodeHandle[] = []

  const startGw = async (name: string): Promise<Gw> => {
    const args = ['tunnel', 'gateway', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--log-format', 'json', '--cluster', nats.url, '--cluster-name', 't', '--cluster-hub', name]
    const child = spawnCli(args, {RESTWIRE_HOME: home})
    const listening = JSON.parse(await child.waitForLine(/"event":"listening"/)) as {port: number; http: string; cluster: unknown}
    assert.deepEqual(listening.cluster, {hub: name, name: 't'})
    return {http: listening.http, name, port: listening.port, process: child}
  }

  const nodesOf = async (gw: Gw): Promise<Array<{id: string; gateway: string}>> => (await (await fetch(`${gw.http}/nodes`)).json()) as Array<{id: string; gateway: string}>

  before(async () => {
    home = join(dir(), 'home')
    await mkdir(home, {recursive: true})
    nats = await startNatsServer()
    // One after the other: the first creates the home's client key that both use.
    for (const name of ['gw-a', 'gw-b']) gws.push(await startGw(name))
  })
  after(async () => {
    await Promise.all(nodes.map((node) => node.close()))
    for (const gw of gws) gw.process.child.kill('SIGKILL')
    await nats?.stop()
  })

  it('reaches a node through either gateway; a gateway killed mid-call gives 503 at once and its node redials the other', async () => {
    const hostKey = await makeNodeHostKey(dir(), 'node_host_key')
    await trustNode(join(home, 'known_nodes'), '*', hostKey.publicKey)
    const node = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(join(home, 'authorized_keys')),
      backoff: {initialMs: 100, maxMs: 300},
      hostKeys: [{privateKey: hostKey.key.privateKey}],
      nodeId: 'roamer',
      router: new Router()
        .route('GET', '/hello', () => ({hello: 'roamer'}))
        .route('GET', '/hang', () => new Promise(() => {}))
        .route('STREAM', '/count', async function* () {
          for (let i = 0; i < 20; i++) yield i
        }),
      to: gws.map((gw) => ({host: '127.0.0.1', port: gw.port})),
    })
    nodes.push(node)
    await until('both gateways to list "roamer"', async () => (await Promise.all(gws.map(nodesOf))).every((list) => list.some((entry) => entry.id === 'roamer')), 20_000)
    const holderName = (await nodesOf(gws[0]!)).find((entry) => entry.id === 'roamer')!.gateway
    const holder = gws.find((gw) => gw.name === holderName)!
    const other = gws.find((gw) => gw !== holder)!
    assert.deepEqual(await nodesOf(other), await nodesOf(holder))

    assert.deepEqual(await (await fetch(`${other.http}/nodes/roamer/hello`)).json(), {hello: 'roamer'})
    const stream = await (await fetch(`${other.http}/nodes/roamer/count`, {headers: {accept: 'application/x-ndjson'}})).text()
    assert.equal(stream, Array.from({length: 20}, (_, i) => `${i}\n`).join(''))

    const inFlight = fetch(`${other.http}/nodes/roamer/hang`)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const killed = Date.now()
    holder.process.child.kill('SIGKILL')
    const failed = await inFlight
    const failMs = Date.now() - killed
    console.log(`# call in flight through a SIGKILLed gateway answered ${failed.status} after ${failMs} ms`)
    // "At once", judged by what answered, not by a time: the hub watch's 503 (its ping found no one), not
    // the 504 of the gateway's 30 s --timeout.
    const text = await failed.text()
    assert.equal(failed.status, 503, text)
    assert.match(text, /the hub holding the node is gone/)

    await until('"roamer" to redial the other gateway', async () => (await nodesOf(other)).some((entry) => entry.id === 'roamer' && entry.gateway === other.name), 20_000)
    assert.deepEqual(await (await fetch(`${other.http}/nodes/roamer/hello`)).json(), {hello: 'roamer'})
  })

  it('loads the NATS client only with --cluster', async () => {
    const natsModules = async (extra: string[]): Promise<number> => {
      const child = spawnCli(['tunnel', 'gateway', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--log-format', 'json', ...extra], {NODE_DEBUG: 'module', RESTWIRE_HOME: home})
      try {
        await child.waitForLine(/"event":"listening"/)
        return child.stderr.filter((line) => line.includes('nats-io')).length
      } finally {
        await child.stop('SIGTERM')
      }
    }

    assert.equal(await natsModules([]), 0)
    assert.ok((await natsModules(['--cluster', nats.url, '--cluster-name', 'loads'])) > 0)
  })

  it('refuses to start a gateway whose NATS credentials are wrong (exit 3, RW_ERR_CLUSTER)', async () => {
    const guarded = await startNatsServer({pass: 'right-pass', user: 'gws'})
    try {
      const result = await restwire(
        ['tunnel', 'gateway', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cluster', guarded.url, '--nats-user', 'gws', '--json'],
        {RESTWIRE_HOME: home, RESTWIRE_NATS_PASS: 'wrong-pass'},
      )
      assert.equal(result.code, 3, result.stderr)
      assert.match(result.stdout + result.stderr, /RW_ERR_CLUSTER/)
      assert.match(result.stdout + result.stderr, /authorization/i)
    } finally {
      await guarded.stop()
    }
  })

  /** `tunnel gateway --cluster URL ...extra`: the listening line's cluster, or the exit code and output of a refusal. */
  async function tryGateway(url: string, extra: string[], env: Record<string, string> = {}): Promise<{cluster: unknown} | {code: number | null; output: string}> {
    const child = spawnCli(['tunnel', 'gateway', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--log-format', 'json', '--cluster', url, '--cluster-name', 'guarded', '--cluster-hub', 'gw-g', ...extra], {RESTWIRE_HOME: home, ...env})
    try {
      const listening = JSON.parse(await child.waitForLine(/"event":"listening"/)) as {cluster: unknown}
      return {cluster: listening.cluster}
    } catch {
      return {code: await child.exited, output: child.stderr.join('\n')}
    } finally {
      await child.stop('SIGKILL')
    }
  }

  it('joins NATS with a token, and refuses to start without it (exit 3, RW_ERR_CLUSTER)', async () => {
    const guarded = await startNatsServer({token: 'gateway-token-1'})
    try {
      assert.deepEqual(await tryGateway(guarded.url, [], {RESTWIRE_NATS_TOKEN: 'gateway-token-1'}), {cluster: {hub: 'gw-g', name: 'guarded'}})
      const refused = await tryGateway(guarded.url, [])
      assert.ok('code' in refused && refused.code === 3, JSON.stringify(refused))
      assert.match(refused.output, /RW_ERR_CLUSTER/)
    } finally {
      await guarded.stop()
    }
  })

  it('joins NATS over TLS with --nats-ca, and refuses to start without it (exit 3, RW_ERR_CLUSTER)', {skip: skipWithout('openssl')}, async () => {
    const pki = await makePipePki(join(dir(), 'nats-pki'))
    const guarded = await startNatsServer({tls: {cert: join(pki.dir, 'hub.pem'), key: join(pki.dir, 'hub-key.pem')}})
    try {
      assert.match(guarded.url, /^tls:/)
      assert.deepEqual(await tryGateway(guarded.url, ['--nats-ca', join(pki.dir, 'ca.pem')]), {cluster: {hub: 'gw-g', name: 'guarded'}})
      const refused = await tryGateway(guarded.url, [])
      assert.ok('code' in refused && refused.code === 3, JSON.stringify(refused))
      assert.match(refused.output, /RW_ERR_CLUSTER/)
    } finally {
      await guarded.stop()
    }
  })

  it('joins NATS in operator/JWT mode with --nats-creds, and refuses to start without it or with a stranger\'s (exit 3, RW_ERR_CLUSTER)', async () => {
    const operator = await makeNatsOperator(dir())
    const configFile = join(dir(), 'nats-operator.conf')
    await writeFile(configFile, operator.config)
    const guarded = await startNatsServer({configFile})
    try {
      const creds = await operator.userCreds('gateways', ['restwire.tunnel.guarded.>', '_INBOX.>'])
      assert.deepEqual(await tryGateway(guarded.url, ['--nats-creds', creds]), {cluster: {hub: 'gw-g', name: 'guarded'}})
      for (const extra of [[], ['--nats-creds', await operator.strangerCreds('stranger')]]) {
        const refused = await tryGateway(guarded.url, extra)
        assert.ok('code' in refused && refused.code === 3, JSON.stringify(refused))
        assert.match(refused.output, /RW_ERR_CLUSTER/)
        assert.match(refused.output, /authorization/i)
      }
    } finally {
      await guarded.stop()
    }
  })
})
