// The gateway's local HTTP API against a real gateway and real nodes, called with curl and fetch.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {after, before, describe, it} from 'node:test'
import {type RwRequest, parseQuery} from '../../../src/core/message/request.js'
import {Router} from '../../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../../src/core/ssh/authorized-keys.js'
import {type TunnelGatewayHandle, type TunnelNodeHandle, exposeNode, startTunnelGateway} from '../../../src/core/tunnel/index.js'
import {RestwireError} from '../../../src/core/errors.js'
import {type TunnelHttpApiHandle, errorStatus, requestTarget, startTunnelHttpApi} from '../../../src/core/tunnel/http-api.js'
import {closedWithin, openSocket} from '../../helpers/hostile.js'
import {type TunnelKeys, makeTunnelKeys, trustNode} from '../../helpers/tunnel-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout, tool} from '../../helpers/tools.js'

const NODE_ID = 'api-node'
const DROP_ID = 'drop-node'
const NDJSON = 'Accept: application/x-ndjson'

/** Runs curl; the status comes from `-w`, after a newline that ends the body. */
function curl(args: string[]): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    execFile(tool('curl'), ['-sS', '-w', '\n%{http_code}', ...args], {timeout: 30_000}, (error, stdout, stderr) => {
      if (error) return reject(new Error(`curl failed: ${stderr || error.message}`))
      const cut = stdout.lastIndexOf('\n')
      resolve({body: stdout.slice(0, cut), status: Number(stdout.slice(cut + 1))})
    })
  })
}

const json = (text: string): unknown => JSON.parse(text)

describe('tunnel HTTP API: curl and fetch through a real gateway', {skip: skipWithout('curl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-tunnel-http-')
  let keys: TunnelKeys
  let gateway: TunnelGatewayHandle
  let api: TunnelHttpApiHandle
  let base: string
  let node: TunnelNodeHandle
  let dropNode: TunnelNodeHandle | undefined
  const finallyRan = new Set<string>()
  const finallyWaiters = new Map<string, () => void>()
  const finallyOf = (tag: string): Promise<void> => new Promise((resolve) => (finallyRan.has(tag) ? resolve() : finallyWaiters.set(tag, resolve)))
  let hangStarted: () => void = () => {}

  const router = new Router()
    .route('GET', '/home', () => ({home: 'router'}))
    .route('GET', '/echo/:name', (req) => ({name: req.params.name, query: req.query, verb: req.verb}))
    .route('POST', '/create', (req) => [201, req.body])
    .route('PATCH', '/item', (req) => ({patched: req.body, query: req.query}))
    .route('DELETE', '/item', (req) => ({deleted: true, query: req.query}))
    .route('GET', '/teapot', () => [418, {short: 'and stout'}])
    .route('STREAM', '/count', async function* (req: RwRequest) {
      const n = Number(req.query.n ?? 5)
      for (let i = 0; i < n; i++) yield {i}
    })
    .route('STREAM', '/breaks', async function* () {
      yield 'first'
      throw new Error('stream broke')
    })
    .route('STREAM', '/forever', async function* (req: RwRequest) {
      try {
        for (let i = 0; ; i++) {
          await new Promise((resolve) => setTimeout(resolve, 5))
          yield i
        }
      } finally {
        finallyRan.add(String(req.query.tag))
        finallyWaiters.get(String(req.query.tag))?.()
      }
    })

  const startNode = async (nodeId: string, nodeRouter: Router): Promise<TunnelNodeHandle> => {
    const handle = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      nodeId,
      once: true,
      router: nodeRouter,
      to: {host: '127.0.0.1', port: gateway.address.port},
    })
    await gateway.waitForNode(nodeId, 20_000)
    return handle
  }

  before(async () => {
    keys = await makeTunnelKeys(dir())
    await trustNode(keys.knownNodesPath, NODE_ID, keys.nodeHostPublicKey)
    await trustNode(keys.knownNodesPath, DROP_ID, keys.nodeHostPublicKey)
    gateway = await startTunnelGateway({identities: [keys.gatewayKey], knownNodesPath: keys.knownNodesPath, port: 0, timeoutMs: 5000})
    api = await startTunnelHttpApi(gateway, {maxBodyBytes: 64 * 1024, port: 0})
    base = `http://127.0.0.1:${api.address.port}`
    node = await startNode(NODE_ID, router)
  })
  after(async () => {
    await api?.close()
    await node?.close()
    await dropNode?.close()
    await gateway?.close()
  })

  it('listens on loopback and lists the connected nodes at GET /nodes', async () => {
    assert.equal(api.address.address, '127.0.0.1')
    const response = await fetch(`${base}/nodes`)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'application/json')
    const nodes = (await response.json()) as Array<Record<string, unknown>>
    assert.equal(nodes.length, 1)
    const [entry] = nodes
    assert.equal(entry!.id, NODE_ID)
    assert.equal(entry!.fingerprint, keys.nodeHostKey.fingerprint)
    assert.match(String(entry!.address), /^127\.0\.0\.1:\d+$/)
    assert.equal(new Date(String(entry!.connectedSince)).toISOString(), entry!.connectedSince)
    assert.equal(entry!.inFlight, 0)
    const viaCurl = await curl([`${base}/nodes`])
    assert.equal(viaCurl.status, 200)
    assert.deepEqual(json(viaCurl.body), nodes)
  })

  it('GET with a query (repeated keys become lists) via curl', async () => {
    const {body, status} = await curl([`${base}/nodes/${NODE_ID}/echo/ada?x=1&tags=a&tags=b`])
    assert.equal(status, 200)
    assert.deepEqual(json(body), {name: 'ada', query: {tags: ['a', 'b'], x: '1'}, verb: 'GET'})
  })

  it('POST a JSON body: the node status and body become the response', async () => {
    const data = {list: [1, 2.5, null], nested: {ok: true}, text: 'héllo ✓'}
    const {body, status} = await curl(['-X', 'POST', '-H', 'content-type: application/json', '-d', JSON.stringify(data), `${base}/nodes/${NODE_ID}/create`])
    assert.equal(status, 201)
    assert.deepEqual(json(body), data)
  })

  it('PATCH and PUT map to PATCH, DELETE to DELETE, with query params', async () => {
    for (const method of ['PATCH', 'PUT']) {
      const response = await fetch(`${base}/nodes/${NODE_ID}/item?v=2`, {body: JSON.stringify({x: method}), method})
      assert.equal(response.status, 200)
      assert.deepEqual(await response.json(), {patched: {x: method}, query: {v: '2'}})
    }

    const {body, status} = await curl(['-X', 'DELETE', `${base}/nodes/${NODE_ID}/item?id=7`])
    assert.equal(status, 200)
    assert.deepEqual(json(body), {deleted: true, query: {id: '7'}})
  })

  it('a node 4xx keeps its status and body; an unknown route is the node 404', async () => {
    const teapot = await curl([`${base}/nodes/${NODE_ID}/teapot`])
    assert.equal(teapot.status, 418)
    assert.deepEqual(json(teapot.body), {short: 'and stout'})
    const missing = await curl([`${base}/nodes/${NODE_ID}/no-such-route`])
    assert.equal(missing.status, 404)
    assert.equal(typeof json(missing.body), 'object')
  })

  it('an unknown node is 404 with an error body that lists the connected nodes', async () => {
    const {body, status} = await curl([`${base}/nodes/ghost/home`])
    assert.equal(status, 404)
    const answer = json(body) as {code: string; connected: string[]; error: string}
    assert.match(answer.error, /ghost/)
    assert.match(answer.error, new RegExp(`connected: .*${NODE_ID}`))
    assert.ok(answer.connected.includes(NODE_ID), body)
    assert.equal(answer.code, 'RW_ERR_NODE_UNKNOWN')
  })

  it('a body that is not JSON is 400; one over the size limit is 413', async () => {
    const bad = await curl(['-X', 'POST', '-d', '{"name":', `${base}/nodes/${NODE_ID}/create`])
    assert.equal(bad.status, 400)
    assert.match(String((json(bad.body) as {error: string}).error), /not valid JSON/)
    const big = await fetch(`${base}/nodes/${NODE_ID}/create`, {body: JSON.stringify({pad: 'x'.repeat(100_000)}), method: 'POST'})
    assert.equal(big.status, 413)
    assert.equal(((await big.json()) as {code: string}).code, 'RW_ERR_FRAME_TOO_LARGE')
  })

  it('a chunked body is read whole across writes; one over the limit is 413 and the connection closes', async () => {
    const socket = await openSocket({port: api.address.port})
    let text = ''
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
    const body = JSON.stringify({split: 'across writes'})
    socket.write(`POST /nodes/${NODE_ID}/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`)
    for (const part of [body.slice(0, 5), body.slice(5)]) {
      socket.write(`${part.length.toString(16)}\r\n${part}\r\n`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }

    socket.write('0\r\n\r\n')
    while (!text.includes(body)) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.match(text, /^HTTP\/1\.1 201 /)
    assert.match(text, /content-length: \d+/i)
    assert.doesNotMatch(text, /transfer-encoding/i)
    // 64 KiB limit in this suite; no Content-Length, so only the bytes read can tell.
    text = ''
    const chunk = 'x'.repeat(16 * 1024)
    socket.write(`POST /nodes/${NODE_ID}/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`)
    for (let i = 0; i < 5; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)
    assert.ok(await closedWithin(socket, 20_000), 'the connection is closed after the 413')
    assert.match(text, /^HTTP\/1\.1 413 /)
    assert.match(text, /RW_ERR_FRAME_TOO_LARGE/)
    assert.match(text, /connection: close/i)
  })

  it('a client that resets mid-body leaves no request in flight: close() does not wait for it', async () => {
    const other = await startTunnelHttpApi(gateway, {drainMs: 120_000, port: 0})
    const socket = await openSocket({port: other.address.port})
    socket.write(`POST /nodes/${NODE_ID}/create HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"half":`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.resetAndDestroy()
    await new Promise((resolve) => setTimeout(resolve, 50))
    // The suite's 60 s timeout is far below drainMs: a request counted in flight would fail the test.
    await other.close()
    assert.equal((await fetch(`${base}/nodes/${NODE_ID}/home`)).status, 200)
  })

  it('other paths are 404 and other methods 405', async () => {
    assert.equal((await fetch(`${base}/elsewhere`)).status, 404)
    const wrongMethod = await fetch(`${base}/nodes`, {method: 'POST'})
    assert.equal(wrongMethod.status, 405)
    assert.equal(wrongMethod.headers.get('allow'), 'GET')
    assert.equal((await fetch(`${base}/nodes/${NODE_ID}/home`, {method: 'OPTIONS'})).status, 405)
  })

  it('streams 5 items as NDJSON to curl -N', async () => {
    const {body, status} = await curl(['-N', '-H', NDJSON, `${base}/nodes/${NODE_ID}/count?n=5`])
    assert.equal(status, 200)
    assert.equal(body, '{"i":0}\n{"i":1}\n{"i":2}\n{"i":3}\n{"i":4}\n')
  })

  it('streams as Server-Sent Events', async () => {
    const response = await fetch(`${base}/nodes/${NODE_ID}/count?n=3`, {headers: {accept: 'text/event-stream'}})
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'text/event-stream')
    assert.equal(await response.text(), 'data: {"i":0}\n\ndata: {"i":1}\n\ndata: {"i":2}\n\n')
  })

  it('an unknown stream route is an HTTP 404 with an error body, not an empty 200', async () => {
    const {body, status} = await curl(['-N', '-H', NDJSON, `${base}/nodes/${NODE_ID}/no-such-stream`])
    assert.equal(status, 404)
    assert.equal(typeof json(body), 'object')
    const sse = await fetch(`${base}/nodes/ghost/count`, {headers: {accept: 'text/event-stream'}})
    assert.equal(sse.status, 404)
    assert.equal(((await sse.json()) as {code: string}).code, 'RW_ERR_NODE_UNKNOWN')
  })

  it('an error mid-stream ends it with an error record (NDJSON line, SSE event)', async () => {
    const {body, status} = await curl(['-N', '-H', NDJSON, `${base}/nodes/${NODE_ID}/breaks`])
    assert.equal(status, 200)
    const [first, last, ...rest] = body.trimEnd().split('\n').map((line) => json(line) as Record<string, unknown>)
    assert.equal(first, 'first')
    assert.equal(last!.status, 500)
    assert.match(String(last!.error), /stream broke/)
    assert.equal(rest.length, 0)
    const sse = await (await fetch(`${base}/nodes/${NODE_ID}/breaks`, {headers: {accept: 'text/event-stream'}})).text()
    assert.match(sse, /^data: "first"\n\nevent: error\ndata: \{.*stream broke.*\}\n\n$/)
  })

  it('a client that goes away mid-stream cancels it (the generator finally runs)', async () => {
    const controller = new AbortController()
    const response = await fetch(`${base}/nodes/${NODE_ID}/forever?tag=http-gone`, {headers: {accept: 'application/x-ndjson'}, signal: controller.signal})
    assert.equal(response.status, 200)
    const reader = response.body!.getReader()
    let text = ''
    while (text.split('\n').length < 4) text += Buffer.from((await reader.read()).value!).toString()
    assert.ok(text.startsWith('0\n1\n2\n'))
    controller.abort()
    await finallyOf('http-gone')
    // curl killed mid-stream does the same.
    const child = execFile(tool('curl'), ['-sS', '-N', '-H', NDJSON, `${base}/nodes/${NODE_ID}/forever?tag=curl-gone`])
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()))
    child.kill('SIGKILL')
    await finallyOf('curl-gone')
  })

  it('a request in flight to a node that drops is 503', async () => {
    const started = new Promise<void>((resolve) => (hangStarted = resolve))
    dropNode = await startNode(DROP_ID, new Router().route('GET', '/hang', () => {
      hangStarted()
      return new Promise(() => {})
    }))
    const pending = curl([`${base}/nodes/${DROP_ID}/hang`])
    await started
    await dropNode.close()
    const {body, status} = await pending
    assert.equal(status, 503)
    assert.equal((json(body) as {code: string}).code, 'RW_ERR_CLOSED')
    // Once it is gone from the registry, it is an unknown node.
    assert.equal((await curl([`${base}/nodes/${DROP_ID}/hang`])).status, 404)
  })

  it("a node that never answers is the gateway's own 504 within its timeout, over HTTP", async () => {
    const slowGateway = await startTunnelGateway({identities: [keys.gatewayKey], knownNodesPath: keys.knownNodesPath, port: 0, timeoutMs: 300})
    const slowApi = await startTunnelHttpApi(slowGateway, {port: 0})
    const hanging = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      // The node's own handler timeout is longer than the gateway's: the 504 must come from the gateway.
      handlerTimeoutMs: 60_000,
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      nodeId: NODE_ID,
      once: true,
      router: new Router().route('GET', '/hang', () => new Promise(() => {})).route('GET', '/home', () => ({home: 'slow gateway'})),
      to: {host: '127.0.0.1', port: slowGateway.address.port},
    })
    try {
      await slowGateway.waitForNode(NODE_ID, 20_000)
      const {body, status} = await curl([`http://127.0.0.1:${slowApi.address.port}/nodes/${NODE_ID}/hang`])
      assert.equal(status, 504)
      assert.equal((json(body) as {code: string}).code, 'RW_ERR_TIMEOUT')
      // The node is still usable after the timed-out call.
      assert.deepEqual(json((await curl([`http://127.0.0.1:${slowApi.address.port}/nodes/${NODE_ID}/home`])).body), {home: 'slow gateway'})
    } finally {
      await slowApi.close()
      await hanging.close()
      await slowGateway.close()
    }
  })

  it('close() ends streams in progress and is safe twice', async () => {
    const other = await startTunnelHttpApi(gateway, {port: 0})
    const response = await fetch(`http://127.0.0.1:${other.address.port}/nodes/${NODE_ID}/forever?tag=api-closed`, {headers: {accept: 'application/x-ndjson'}})
    const reader = response.body!.getReader()
    await reader.read()
    await Promise.all([other.close(), other.close()])
    await finallyOf('api-closed')
    for (;;) if ((await reader.read().catch(() => ({done: true}))).done) break
  })
})

describe('tunnel HTTP API: request targets', () => {
  it('split into path and query as a WHATWG URL would, without one for plain targets', () => {
    const targets = ['/nodes', '/nodes/', '/nodes/a/b?x=1&y=%20', '/nodes/a%2Fb/c', '/nodes/x/./y', '/nodes/x/%2e%2E/y', '/nodes/../x', '//nodes/x', '/nodes\\x/y', '/nodes/x#frag', '/nodes/x?q#f', '/nodes/x?', '/nodes/api.node/item?a=b?c', "/nodes/x/y'z?k='v'", '*']
    for (const target of targets) {
      const url = new URL(target, 'http://gateway')
      const {path, query} = requestTarget(target)
      // The raw query keeps characters a URL percent-encodes; parsed, they are the same.
      assert.deepEqual({path, query: parseQuery(query)}, {path: url.pathname, query: parseQuery(url.search.slice(1))}, target)
    }
  })
})

describe('tunnel HTTP API: error statuses', () => {
  it('maps gateway errors to HTTP statuses', () => {
    const status = (code: ConstructorParameters<typeof RestwireError>[0], details?: Record<string, unknown>): number => errorStatus(new RestwireError(code, 'x', {details}))
    assert.equal(status('RW_ERR_TIMEOUT', {status: 504}), 504)
    assert.equal(status('RW_ERR_TIMEOUT'), 504)
    assert.equal(status('RW_ERR_CLOSED'), 503)
    assert.equal(status('RW_ERR_NODE_UNKNOWN', {status: 404}), 404)
    assert.equal(status('RW_ERR_REMOTE_5XX', {body: null, status: 500}), 500)
    assert.equal(status('RW_ERR_REMOTE_4XX', {body: null, status: 302}), 502, 'a status HTTP cannot carry as an error')
    assert.equal(status('RW_ERR_FRAME_CORRUPT'), 502)
  })
})
