// `restwire tunnel expose` end to end: the built CLI as the node, a real gateway from the library in the test.
import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {ensureServerIdentity, localPaths} from '../../src/core/home.js'
import {generateSshKeyPair} from '../../src/core/keys/ssh-key-pair.js'
import {loadPrivateKey} from '../../src/core/ssh/private-key.js'
import {type TunnelGatewayHandle, startTunnelGateway} from '../../src/core/tunnel/index.js'
import {startExpose} from '../helpers/tunnel-expose.js'
import type {CliProcess} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'

describe('restwire tunnel expose --demo (zero configuration)', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let gateway: TunnelGatewayHandle
  let node: CliProcess
  let nodeId: string

  before(async () => {
    const home = join(dir(), 'home')
    env = {RESTWIRE_HOME: home}
    const paths = localPaths(home)
    await ensureServerIdentity(paths)
    gateway = await startTunnelGateway({acceptNew: true, identities: [await loadPrivateKey(paths.clientKey)], knownNodesPath: join(dir(), 'known_nodes'), port: 0})
    node = startExpose(['--to', `127.0.0.1:${gateway.address.port}`, '--demo', '--once'], env)
    nodeId = String((await node.waitForLog(/"event":"node started"/)).nodeId)
    await gateway.waitForNode(nodeId, 20_000)
  })
  after(async () => {
    await node?.stop('SIGKILL')
    await gateway?.close()
  })

  it('the demo node is called "demo" (no --node-id) and logs connecting and connected', async () => {
    assert.equal(nodeId, 'demo')
    await node.waitForLog(/"event":"connecting"/)
    const connected = await node.waitForLog(/"event":"connected"/)
    assert.equal(connected.to, `127.0.0.1:${gateway.address.port}`)
  })

  it('answers GET /home and POST /create', async () => {
    assert.deepEqual(await gateway.request(nodeId, 'GET', '/home'), {body: {home: 'router'}, status: 200})
    assert.deepEqual(await gateway.request(nodeId, 'POST', '/create', {data: {name: 'ada'}}), {body: {name: 'ada'}, status: 201})
  })

  it('streams 0..n-1 from STREAM /stream (fast with ?interval_ms=1&n=5)', async () => {
    const items: unknown[] = []
    for await (const item of gateway.stream(nodeId, '/stream?interval_ms=1&n=5')) items.push(item)
    assert.deepEqual(items, [0, 1, 2, 3, 4])
  })

  it('stops a slow stream at once when cancelled', async () => {
    const stream = gateway.stream(nodeId, '/stream', {params: {interval_ms: 60_000}})
    const started = Date.now()
    for await (const item of stream) {
      assert.equal(item, 0)
      break
    }

    // The next item is 60 s away: well under that proves the cancel did not wait for it (loose for a loaded machine).
    assert.ok(Date.now() - started < 30_000, 'the cancel does not wait for the next item')
  })

  it('exits 0 with --once when the gateway goes away', async () => {
    await gateway.close()
    assert.equal(await node.exited, 0, node.stderr.join('\n'))
    const disconnected = await node.waitForLog(/"event":"disconnected"/)
    assert.equal(typeof disconnected.reason, 'string')
    assert.ok(!node.stderr.some((line) => line.includes('"event":"retrying"')), '--once does not redial')
  })
})

describe('restwire tunnel expose: refusals and failures', () => {
  const dir = useTempDir()

  it('refuses a gateway whose key is not authorized (auth-rejected), and exits 3 having never connected', async () => {
    const env = {RESTWIRE_HOME: join(dir(), 'home')}
    await ensureServerIdentity(localPaths(env.RESTWIRE_HOME))
    const strangerPath = join(dir(), 'stranger')
    await writeFile(strangerPath, (await generateSshKeyPair({comment: 'stranger', type: 'ed25519'})).privateKey, {mode: 0o600})
    const gateway = await startTunnelGateway({acceptNew: true, identities: [await loadPrivateKey(strangerPath)], knownNodesPath: join(dir(), 'known_nodes'), port: 0})
    after(() => gateway.close())
    const node = startExpose(['--to', `127.0.0.1:${gateway.address.port}`, '--demo', '--once'], env)
    after(() => node.stop('SIGKILL'))
    const rejected = await node.waitForLog(/"event":"auth-rejected"/)
    assert.match(String(rejected.fingerprint), /^SHA256:/)
    assert.equal(gateway.nodes().length, 0)
    assert.equal(await node.exited, 3, node.stderr.join('\n'))
  })

  it('keeps redialling with backoff and exits 0 on SIGTERM', async () => {
    const env = {RESTWIRE_HOME: join(dir(), 'home2')}
    // Port 1 on loopback: nothing listens there, so every dial is refused.
    const node = startExpose(['--to', '127.0.0.1:1', '--demo', '--max-backoff', '200ms', '--node-id', 'api-1'], env)
    after(() => node.stop('SIGKILL'))
    assert.equal((await node.waitForLog(/"event":"node started"/)).nodeId, 'api-1')
    const retrying = await node.waitForLog(/"event":"retrying"/)
    assert.ok(Number(retrying.delayMs) <= 200)
    assert.match(String((await node.waitForLog(/"event":"disconnected"/)).reason), /connection refused/)
    await node.waitForLog(/"attempt":3/)
    assert.equal(await node.stop('SIGTERM'), 0, node.stderr.join('\n'))
  })

  it('rejects a bad --to and a missing handler source with exit 2', async () => {
    const env = {RESTWIRE_HOME: join(dir(), 'home3')}
    const bad = startExpose(['--to', 'nonsense', '--demo'], env)
    assert.equal(await bad.exited, 2)
    assert.match(bad.stderr.join('\n'), /--to takes HOST:PORT/)
    const none = startExpose(['--to', '127.0.0.1:1'], env)
    assert.equal(await none.exited, 2)
    assert.match(none.stderr.join('\n'), /exactly one of --routes FILE, --upstream URL or --demo/)
  })
})

describe('restwire tunnel expose --routes and --upstream', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let gateway: TunnelGatewayHandle

  before(async () => {
    const paths = localPaths(join(dir(), 'home'))
    env = {RESTWIRE_HOME: paths.home}
    await ensureServerIdentity(paths)
    gateway = await startTunnelGateway({acceptNew: true, identities: [await loadPrivateKey(paths.clientKey)], knownNodesPath: join(dir(), 'known_nodes'), port: 0})
  })
  after(() => gateway?.close())

  it('serves a routes module: UPDATE maps to PATCH, STREAM handlers are async generators', async () => {
    const routes = join(dir(), 'routes.mjs')
    await writeFile(
      routes,
      `export default {
        'UPDATE /items/:id': (req) => ({id: req.params.id, patch: req.body}),
        'STREAM /count': async function* (req) { for (let i = 0; i < Number(req.query.n); i++) yield {i} },
      }`,
    )
    const node = startExpose(['--to', `127.0.0.1:${gateway.address.port}`, '--routes', routes, '--node-id', 'routes-node'], env)
    after(() => node.stop('SIGKILL'))
    await gateway.waitForNode('routes-node', 20_000)
    assert.deepEqual(await gateway.request('routes-node', 'PATCH', '/items/7', {data: {done: true}}), {body: {id: '7', patch: {done: true}}, status: 200})
    const items: unknown[] = []
    for await (const item of gateway.stream('routes-node', '/count', {params: {n: 3}})) items.push(item)
    assert.deepEqual(items, [{i: 0}, {i: 1}, {i: 2}])
    assert.equal(await node.stop('SIGINT'), 0, node.stderr.join('\n'))
  })

  it('refuses a routes module with a verb the tunnel does not carry: a config error (exit 2), not a crash', async () => {
    const routes = join(dir(), 'bad-verb.mjs')
    await writeFile(routes, `export default {'FETCH /items': () => ({})}`)
    const node = startExpose(['--to', `127.0.0.1:${gateway.address.port}`, '--routes', routes, '--node-id', 'bad-verb-node'], env)
    assert.equal(await node.exited, 2, node.stderr.join('\n'))
    const stderr = node.stderr.join('\n')
    assert.match(stderr, /bad-verb\.mjs: route "FETCH \/items": unknown tunnel verb "FETCH"; use one of GET, POST, PATCH, DELETE, STREAM/)
    assert.doesNotMatch(stderr, /RW_ERR_INTERNAL|bug in restwire/)
  })

  it('forwards GET/POST/PATCH/DELETE to --upstream, and STREAM as NDJSON or SSE', async () => {
    let streamClosed = (): void => {}
    const closed = new Promise<void>((resolve) => (streamClosed = resolve))
    const upstream = createServer((req, res) => {
      if (req.url?.includes('/feed')) {
        const sse = req.url.includes('sse')
        res.writeHead(200, {'content-type': sse ? 'text/event-stream' : 'application/x-ndjson'})
        for (let i = 0; i < 3; i++) res.write(sse ? `data: {"i":${i}}\n\n` : `{"i":${i}}\n`)
        if (req.url.includes('endless')) res.on('close', streamClosed)
        else res.end()
        return
      }

      let body = ''
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
      req.on('end', () => {
        res.writeHead(req.url?.endsWith('/missing') ? 404 : 200, {'content-type': 'application/json'})
        res.end(JSON.stringify({body: body ? JSON.parse(body) : null, method: req.method, url: req.url}))
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    after(() => {
      upstream.closeAllConnections()
      return new Promise((resolve) => upstream.close(resolve))
    })
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/api`
    const node = startExpose(['--to', `127.0.0.1:${gateway.address.port}`, '--upstream', base, '--node-id', 'upstream-node'], env)
    after(() => node.stop('SIGKILL'))
    await gateway.waitForNode('upstream-node', 20_000)
    assert.deepEqual((await gateway.request('upstream-node', 'GET', '/a/b?x=1')).body, {body: null, method: 'GET', url: '/api/a/b?x=1'})
    assert.deepEqual((await gateway.request('upstream-node', 'POST', '/things', {data: {n: 1}})).body, {body: {n: 1}, method: 'POST', url: '/api/things'})
    assert.deepEqual((await gateway.request('upstream-node', 'UPDATE', '/things/1', {data: {n: 2}})).body, {body: {n: 2}, method: 'PATCH', url: '/api/things/1'})
    assert.deepEqual((await gateway.request('upstream-node', 'DELETE', '/things/1')).body, {body: null, method: 'DELETE', url: '/api/things/1'})
    await assert.rejects(gateway.request('upstream-node', 'GET', '/missing'), (error: {code: string; details: {status: number}}) => error.code === 'RW_ERR_REMOTE_4XX' && error.details.status === 404)
    for (const path of ['/feed', '/feed?format=sse']) {
      const items: unknown[] = []
      for await (const item of gateway.stream('upstream-node', path)) items.push(item)
      assert.deepEqual(items, [{i: 0}, {i: 1}, {i: 2}], path)
    }

    for await (const item of gateway.stream('upstream-node', '/feed?endless=1')) {
      assert.deepEqual(item, {i: 0})
      break
    }

    await closed
  })
})
