// The inspector's HTTP surface on a real tunnel gateway and node: the page and the API side by side on
// one port, the event stream, a record in full, replay through the gateway, and the access rules
// (token, Host, Origin, the custom header, Sec-Fetch-Site), with the bounds on event streams.
import assert from 'node:assert/strict'
import {connect} from 'node:net'
import {after, before, describe, it} from 'node:test'
import {type Inspector, createInspector} from '../../../src/core/observe/inspector.js'
import {checkInspectorBind} from '../../../src/core/observe/inspector-guard.js'
import {TrafficLog} from '../../../src/core/observe/traffic.js'
import {Router} from '../../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../../src/core/ssh/authorized-keys.js'
import {type TunnelHttpApiHandle, startTunnelHttpApi} from '../../../src/core/tunnel/http-api.js'
import {tunnelInspectTarget} from '../../../src/core/tunnel/inspect-target.js'
import {type TunnelGatewayHandle, type TunnelNodeHandle, exposeNode, startTunnelGateway} from '../../../src/core/tunnel/index.js'
import {INSPECT, openSse, rawRequest} from '../../helpers/inspector-http.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {type TunnelKeys, makeTunnelKeys} from '../../helpers/tunnel-fixture.js'
import {waitFor} from '../../helpers/wait.js'

const NODE = 'inspect-node'
const TOKEN = 'a-long-enough-test-token-1234'

const router = new Router().route('POST', '/users', ({body}) => {
  const name = (body as {name?: unknown} | null)?.name
  return typeof name === 'string' ? [201, {created: name}] : [422, {error: 'name is required'}]
}).route('GET', '/echo', (req) => ({query: req.query}))

describe('inspector on a tunnel gateway', {timeout: 90_000}, () => {
  const dir = useTempDir('restwire-inspector-')
  let keys: TunnelKeys
  let gateway: TunnelGatewayHandle
  let node: TunnelNodeHandle
  const log = new TrafficLog({bodies: true})
  const servers: Array<{api: TunnelHttpApiHandle; inspector: Inspector}> = []

  const mount = async (options: {token?: string; maxSseClients?: number; maxSseBufferedBytes?: number} = {}): Promise<number> => {
    const inspector = createInspector({bindHost: '127.0.0.1', log, target: tunnelInspectTarget(gateway), ...options})
    const api = await startTunnelHttpApi(gateway, {inspector, port: 0})
    servers.push({api, inspector})
    return api.address.port
  }

  /** One call through the gateway's API; the id of the record the gateway reported for it. */
  const call = async (port: number, verb: string, path: string, data?: unknown): Promise<number> => {
    const before = log.recent().at(-1)?.id ?? 0
    await rawRequest(port, `/nodes/${NODE}${path}`, {body: data === undefined ? undefined : JSON.stringify(data), headers: {'content-type': 'application/json'}, method: verb})
    const record = await waitFor(() => log.recent().find((r) => r.id > before && r.path === path.split('?')[0]), 10_000, `the record of ${verb} ${path}`)
    return record.id
  }

  before(async () => {
    keys = await makeTunnelKeys(dir())
    gateway = await startTunnelGateway({acceptNew: true, identities: [keys.gatewayKey], knownNodesPath: keys.knownNodesPath, port: 0, timeoutMs: 10_000, traffic: log})
    node = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      nodeId: NODE,
      once: true,
      router,
      to: {host: '127.0.0.1', port: gateway.address.port},
    })
    await gateway.waitForNode(NODE, 20_000)
  })
  after(async () => {
    for (const {api, inspector} of servers) {
      inspector.close()
      await api.close()
    }

    await node?.close()
    await gateway?.close()
  })

  it('serves the page at / beside the API, with headers that keep it out of frames and caches', async () => {
    const port = await mount()
    const page = await rawRequest(port, '/')
    assert.equal(page.status, 200)
    assert.match(String(page.headers['content-type']), /text\/html/)
    assert.match(page.body, /restwire inspector/)
    assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/)
    assert.equal(page.headers['x-frame-options'], 'DENY')
    assert.equal(page.headers['cache-control'], 'no-store')
    for (const asset of ['/inspect/inspector.js', '/inspect/inspector.css']) assert.equal((await rawRequest(port, asset)).status, 200, asset)
    // The API's own routes are untouched.
    const nodes = JSON.parse((await rawRequest(port, '/nodes')).body) as Array<{id: string}>
    assert.deepEqual(nodes.map((n) => n.id), [NODE])
    assert.equal((await rawRequest(port, '/inspect/nope', {headers: INSPECT})).status, 404)
  })

  it('streams a snapshot with the node, then each new record as it happens', async () => {
    const port = await mount()
    const sse = await openSse(port)
    try {
      assert.equal(sse.status, 200)
      const snapshot = (await sse.next((e) => e.event === 'snapshot')).data as {about: {protocol: string}; peers: Array<{id: string; fingerprint: string; inFlight: number}>}
      assert.equal(snapshot.about.protocol, 'tunnel')
      assert.equal(snapshot.peers[0]!.id, NODE)
      assert.equal(snapshot.peers[0]!.fingerprint, keys.nodeHostKey.fingerprint)
      const id = await call(port, 'POST', '/users', {name: 'ada'})
      const record = (await sse.next((e) => e.event === 'record' && (e.data as {id: number}).id === id)).data as Record<string, unknown>
      assert.equal(record.status, 201)
      assert.equal(record.verb, 'POST')
      assert.equal(record.path, '/users')
      assert.equal(record.peer, NODE)
      assert.equal(record.value, undefined, 'the live list carries no bodies')
    } finally {
      sse.close()
    }
  })

  it('shows a record in full: JSON pretty-printed, binary as hex, large bodies cut', async () => {
    const port = await mount()
    const id = await call(port, 'POST', '/users', {name: 'grace'})
    const full = JSON.parse((await rawRequest(port, `/inspect/api/records/${id}`, {headers: INSPECT})).body) as {request: {kind: string; text: string}; response: {kind: string; text: string}}
    assert.equal(full.request.kind, 'json')
    assert.equal(full.request.text, '{\n  "name": "grace"\n}')
    assert.equal(full.response.text, '{\n  "created": "grace"\n}')

    const binary = log.add({at: Date.now(), direction: 'out', latencyMs: 1, path: 'blob', peer: NODE, protocol: 'pipe', request: {bytes: 3, value: Buffer.from([0, 1, 255])}, response: {bytes: 200_000, value: Buffer.alloc(200_000, 'x')}, status: 0, verb: 'GET'})
    const shown = JSON.parse((await rawRequest(port, `/inspect/api/records/${binary.id}`, {headers: INSPECT})).body) as {request: {kind: string; hex: string}; response: {kind: string; text: string; truncated: boolean}}
    assert.equal(shown.request.kind, 'binary')
    assert.match(shown.request.hex, /^00000000 {2}00 01 ff/)
    assert.equal(shown.response.kind, 'text')
    assert.equal(shown.response.truncated, true)
    assert.ok(shown.response.text.length <= 64 * 1024)
    assert.equal((await rawRequest(port, '/inspect/api/records/999999', {headers: INSPECT})).status, 404)
  })

  it('replays through the gateway, as recorded or with an edited body', async () => {
    const port = await mount()
    const id = await call(port, 'POST', '/users', {name: 'ada'})
    const replay = (body?: string): Promise<{status: number; body: string}> =>
      rawRequest(port, `/inspect/api/records/${id}/replay`, {body: JSON.stringify(body === undefined ? {} : {body}), headers: {...INSPECT, 'content-type': 'application/json'}, method: 'POST'})
    const same = JSON.parse((await replay()).body) as {status: number; response: {text: string}}
    assert.equal(same.status, 201)
    assert.match(same.response.text, /"created": "ada"/)
    const edited = JSON.parse((await replay('{"nom": "ada"}')).body) as {status: number; response: {text: string}}
    assert.equal(edited.status, 422)
    assert.match(edited.response.text, /name is required/)
    const bad = await replay('{not json')
    assert.equal(bad.status, 400)
    assert.match(bad.body, /not valid JSON/)
    assert.equal((await rawRequest(port, `/inspect/api/records/${id}/replay`, {headers: INSPECT})).status, 405, 'replay is a POST')
    const huge = await rawRequest(port, `/inspect/api/records/${id}/replay`, {body: JSON.stringify({body: 'x'.repeat(1024 * 1024)}), headers: INSPECT, method: 'POST'})
    assert.equal(huge.status, 413)
    const withQuery = await call(port, 'GET', '/echo?tag=a&tag=b')
    const echoed = JSON.parse((await rawRequest(port, `/inspect/api/records/${withQuery}/replay`, {body: '{}', headers: INSPECT, method: 'POST'})).body) as {status: number; response: {text: string}}
    assert.equal(echoed.status, 200)
    assert.deepEqual(JSON.parse(echoed.response.text), {query: {tag: ['a', 'b']}})
  })

  it('refuses cross-origin, header-less and rebinding requests, and data without the token', async () => {
    const port = await mount()
    const id = await call(port, 'POST', '/users', {name: 'eve'})
    const replayPath = `/inspect/api/records/${id}/replay`
    const post = (headers: Record<string, string>): Promise<{status: number; body: string}> => rawRequest(port, replayPath, {body: '{}', headers, method: 'POST'})
    // A form post from another page: no custom header (a browser would need a preflight to add one).
    assert.equal((await post({'content-type': 'text/plain'})).status, 403)
    assert.equal((await post({...INSPECT, origin: 'http://evil.example'})).status, 403)
    assert.equal((await post({...INSPECT, 'sec-fetch-site': 'cross-site'})).status, 403)
    // DNS rebinding: the attacker's name resolves to 127.0.0.1 but the Host header still says it.
    const rebound = await rawRequest(port, '/', {headers: {host: `evil.example:${port}`}})
    assert.equal(rebound.status, 403)
    assert.match(rebound.body, /Host .*evil\.example.* is not this inspector/)
    assert.equal((await post({...INSPECT, host: `evil.example:${port}`})).status, 403)
    assert.equal((await post({...INSPECT, origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin'})).status, 200)
    assert.equal((await rawRequest(port, '/', {headers: {host: `localhost:${port}`}})).status, 200)

    const guarded = await mount({token: TOKEN})
    const page = await rawRequest(guarded, '/')
    assert.equal(page.status, 200, 'the static page holds no data: a browser loads it, then sends the token')
    for (const path of ['/inspect/api/records', '/inspect/api/peers', `/inspect/api/records/${id}`, '/inspect/api/events']) {
      const refused = await rawRequest(guarded, path, {headers: INSPECT})
      assert.equal(refused.status, 401, path)
      assert.match(refused.headers['www-authenticate']!, /^Bearer/)
      assert.equal((await rawRequest(guarded, path, {headers: {...INSPECT, authorization: 'Bearer wrong-token-of-some-length'}})).status, 401, path)
    }

    assert.equal((await rawRequest(guarded, replayPath, {body: '{}', headers: INSPECT, method: 'POST'})).status, 401)
    const ok = await rawRequest(guarded, replayPath, {body: '{}', headers: {...INSPECT, authorization: `Bearer ${TOKEN}`}, method: 'POST'})
    assert.equal(ok.status, 200)
    assert.equal((JSON.parse(ok.body) as {status: number}).status, 201)
    const records = await rawRequest(guarded, '/inspect/api/records', {headers: {...INSPECT, authorization: `Bearer ${TOKEN}`}})
    assert.equal(records.status, 200)
  })

  it('refuses a non-loopback bind without a token, and a short token', () => {
    assert.throws(() => checkInspectorBind('0.0.0.0', undefined, '--http'), {code: 'RW_ERR_USAGE', message: /not loopback, without a token/})
    assert.throws(() => checkInspectorBind('10.1.2.3', undefined, '--inspect'), {code: 'RW_ERR_USAGE'})
    assert.throws(() => checkInspectorBind('127.0.0.1', 'short', '--inspect'), {code: 'RW_ERR_USAGE', message: /at least 16/})
    for (const host of ['127.0.0.1', '::1', 'localhost', '127.8.9.10']) checkInspectorBind(host, undefined, '--inspect')
    checkInspectorBind('0.0.0.0', TOKEN, '--http')
  })

  it('caps event streams and drops one that stops reading instead of buffering for it', async () => {
    const port = await mount({maxSseBufferedBytes: 64 * 1024, maxSseClients: 2})
    const {inspector} = servers.at(-1)!
    const first = await openSse(port)
    const second = await openSse(port)
    const third = await rawRequest(port, '/inspect/api/events', {headers: INSPECT})
    assert.equal(third.status, 503)
    first.close()
    second.close()
    await waitFor(() => inspector.streams().open === 0, 10_000, 'both streams closed')

    // A client that asks for the stream and never reads a byte.
    const stalled = connect(port, '127.0.0.1')
    stalled.on('error', () => {})
    stalled.write(`GET /inspect/api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nx-restwire-inspect: 1\r\n\r\n`)
    stalled.pause()
    await waitFor(() => inspector.streams().open === 1, 10_000, 'the stalled stream attached')
    const path = '/big/' + 'x'.repeat(8 * 1024)
    for (let i = 0; i < 4000 && inspector.streams().open > 0; i++) {
      log.add({at: Date.now(), direction: 'out', latencyMs: 1, path, peer: NODE, protocol: 'tunnel', request: {bytes: 0}, response: {bytes: 0}, status: 200, verb: 'GET'})
      if (i % 200 === 0) await new Promise((resolve) => setImmediate(resolve))
    }

    await waitFor(() => inspector.streams().open === 0, 10_000, 'the stalled stream dropped')
    assert.equal(inspector.streams().dropped, 1)
    stalled.destroy()
  })
})
