import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {type RestwireError, isRestwireError} from '../../../src/core/errors.js'
import {encodeGzipMember} from '../../../src/core/framing/gzip-member.js'
import type {RwRequest} from '../../../src/core/message/request.js'
import {Router} from '../../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../../src/core/ssh/authorized-keys.js'
import {type TunnelGatewayHandle, type TunnelNodeEvent, type TunnelNodeHandle, exposeNode, nodeIdFromHostKey, startTunnelGateway} from '../../../src/core/tunnel/index.js'
import {type TunnelKeys, makeTunnelKeys, startRawGateway, trustNode} from '../../helpers/tunnel-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {waitFor} from '../../helpers/wait.js'

const NODE_ID = 'api-node'
const LIMITED_ID = 'limited-node'
const statusOf = (error: unknown): unknown => (error as RestwireError).details?.status

async function collect(iterable: AsyncIterable<unknown>): Promise<unknown[]> {
  const items: unknown[] = []
  for await (const item of iterable) items.push(item)
  return items
}

describe('tunnel: gateway and node over real SSH', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-tunnel-')
  let keys: TunnelKeys
  let gateway: TunnelGatewayHandle
  let node: TunnelNodeHandle
  const nodeEvents: TunnelNodeEvent[] = []
  const finallyRan: string[] = []
  const finallyWaiters = new Map<string, () => void>()
  /** The terminator can come before the generator's finally block has run: wait for the block itself. */
  const finallyOf = (tag: string): Promise<void> =>
    new Promise((resolve) => (finallyRan.includes(tag) ? resolve() : finallyWaiters.set(tag, resolve)))
  let releaseSlow: () => void = () => {}

  const router = new Router()
    .route('GET', '/home', () => ({home: 'router'}))
    .route('GET', '/whoami', (req) => ({aborted: req.signal.aborted, path: req.path, query: req.query, resource: req.resource, route: req.route, verb: req.verb}))
    .route('GET', '/echo/:name', (req) => ({name: req.params.name, query: req.query, verb: req.verb}))
    .route('POST', '/create', (req) => [201, req.body])
    .route('PATCH', '/item', (req) => ({patched: req.body}))
    .route('DELETE', '/item', () => ({deleted: true}))
    .route('GET', '/boom', () => {
      throw new Error('kaboom')
    })
    .route('GET', '/hang', () => new Promise(() => {}))
    .route('GET', '/slow', () => new Promise((resolve) => (releaseSlow = () => resolve({slow: true}))))
    .route('STREAM', '/count', async function* (req: RwRequest) {
      const n = Number(req.query.n ?? 10)
      for (let i = 0; i < n; i++) yield i
    })
    .route('STREAM', '/ticks/:name', async function* (req: RwRequest) {
      const n = Number(req.query.n ?? 20)
      for (let i = 0; i < n; i++) {
        await new Promise((resolve) => setImmediate(resolve))
        yield `${req.params.name}-${i}`
      }
    })
    .route('STREAM', '/breaks', async function* () {
      yield 'first'
      throw new Error('stream broke')
    })
    .route('STREAM', '/stuck', async function* () {
      yield 'only'
      // Waits for ever between items, ignoring req.signal: a CANCEL must still end the stream at once.
      await new Promise(() => {})
    })
    .route('STREAM', '/with-null', async function* () {
      yield 1
      yield null
      yield 2
    })
    .route('STREAM', '/forever', async function* (req: RwRequest) {
      try {
        for (let i = 0; ; i++) {
          await new Promise((resolve) => setTimeout(resolve, 5))
          yield i
        }
      } finally {
        finallyRan.push(String(req.query.tag))
        finallyWaiters.get(String(req.query.tag))?.()
      }
    })

  before(async () => {
    keys = await makeTunnelKeys(dir())
    await trustNode(keys.knownNodesPath, NODE_ID, keys.nodeHostPublicKey)
    await trustNode(keys.knownNodesPath, LIMITED_ID, keys.nodeHostPublicKey)
    gateway = await startTunnelGateway({identities: [keys.gatewayKey], knownNodesPath: keys.knownNodesPath, port: 0, timeoutMs: 5000})
    node = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      handlerTimeoutMs: 500,
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      nodeId: NODE_ID,
      onEvent: (event) => nodeEvents.push(event),
      router,
      to: {host: '127.0.0.1', port: gateway.address.port},
    })
    await gateway.waitForNode(NODE_ID, 20_000)
  })
  after(async () => {
    await node?.close()
    await gateway?.close()
  })

  it('identifies the node and lists it with fingerprint, address and in-flight count', () => {
    const [entry, ...rest] = gateway.nodes()
    assert.equal(rest.length, 0)
    assert.equal(entry!.id, NODE_ID)
    assert.equal(entry!.fingerprint, keys.nodeHostKey.fingerprint)
    assert.match(entry!.address, /^127\.0\.0\.1:\d+$/)
    assert.ok(entry!.connectedSince instanceof Date)
    assert.equal(entry!.inFlight, 0)
    assert.deepEqual(
      nodeEvents.map((event) => event.type).slice(0, 2),
      ['connecting', 'connected'],
    )
  })

  it('derives a stable default node id from the host key', () => {
    const id = nodeIdFromHostKey(keys.nodeHostKey.privateKey)
    assert.match(id, /^node-[A-Za-z0-9_-]{12}$/)
    assert.equal(id, nodeIdFromHostKey(keys.nodeHostKey.privateKey))
    assert.equal(id.slice(5), keys.nodeHostKey.fingerprint.slice(7, 19).replaceAll('+', '-').replaceAll('/', '_'))
  })

  it('GET, POST, PATCH (and UPDATE), DELETE with params and JSON data', async () => {
    assert.deepEqual(await gateway.request(NODE_ID, 'GET', '/home'), {body: {home: 'router'}, status: 200})
    const echo = await gateway.request(NODE_ID, 'GET', '/echo/ada?x=1', {params: {n: 5, tags: ['a', 'b']}})
    assert.deepEqual(echo.body, {name: 'ada', query: {n: '5', tags: ['a', 'b'], x: '1'}, verb: 'GET'})
    const data = {list: [1, 2.5, null], nested: {ok: true}, text: 'héllo ✓'}
    assert.deepEqual(await gateway.request(NODE_ID, 'POST', '/create', {data}), {body: data, status: 201})
    assert.deepEqual((await gateway.request(NODE_ID, 'PATCH', '/item', {data: 'v2'})).body, {patched: 'v2'})
    assert.deepEqual((await gateway.request(NODE_ID, 'UPDATE', '/item', {data: {x: 1}})).body, {patched: {x: 1}})
    assert.deepEqual((await gateway.request(NODE_ID, 'DELETE', '/item')).body, {deleted: true})
  })

  it('a throwing handler is 500, an unknown route 404, a wrong verb 405, a hanging handler 504', async () => {
    await assert.rejects(gateway.request(NODE_ID, 'GET', '/boom'), (error: RestwireError) => {
      assert.equal(error.code, 'RW_ERR_REMOTE_5XX')
      assert.equal(statusOf(error), 500)
      assert.match(String((error.details?.body as {message: string}).message), /kaboom/)
      return true
    })
    await assert.rejects(gateway.request(NODE_ID, 'GET', '/nope'), (error: RestwireError) => error.code === 'RW_ERR_REMOTE_4XX' && statusOf(error) === 404)
    await assert.rejects(gateway.request(NODE_ID, 'POST', '/home'), (error) => statusOf(error) === 405)
    await assert.rejects(gateway.request(NODE_ID, 'GET', '/hang'), (error) => statusOf(error) === 504)
  })

  it('beyond maxInFlight per connection a request or stream is 503; the others finish and the node serves again', async () => {
    const release: Array<() => void> = []
    let started: () => void = () => {}
    let startedCount = 0
    const bothStarted = new Promise<void>((resolve) => (started = resolve))
    const onStart = (): void => void (++startedCount === 2 && started())
    const limited = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      maxInFlight: 2,
      nodeId: LIMITED_ID,
      once: true,
      router: new Router()
        .route('GET', '/held', () => {
          onStart()
          return new Promise((resolve) => release.push(() => resolve({held: true})))
        })
        .route('STREAM', '/held', async function* () {
          onStart()
          await new Promise<void>((resolve) => release.push(resolve))
          yield 'done'
        }),
      to: {host: '127.0.0.1', port: gateway.address.port},
    })
    try {
      await gateway.waitForNode(LIMITED_ID, 20_000)
      const first = gateway.request(LIMITED_ID, 'GET', '/held')
      const stream = collect(gateway.stream(LIMITED_ID, '/held'))
      await bothStarted
      await assert.rejects(gateway.request(LIMITED_ID, 'GET', '/held'), (error: RestwireError) => {
        assert.equal(statusOf(error), 503)
        assert.match(String((error.details?.body as {error: string}).error), /too many requests in flight.*limit 2/)
        return true
      })
      await assert.rejects(collect(gateway.stream(LIMITED_ID, '/held')), (error) => statusOf(error) === 503)
      for (const done of release.splice(0)) done()
      assert.deepEqual((await first).body, {held: true})
      assert.deepEqual(await stream, ['done'])
      const again = gateway.request(LIMITED_ID, 'GET', '/held')
      await waitFor(() => release.length > 0, 5000, 'the /held handler to start again')
      release.shift()!()
      assert.equal((await again).status, 200)
    } finally {
      await limited.close()
    }
  })

  it("the handler's request: resource with the query only when there are params, signal, route", async () => {
    assert.deepEqual((await gateway.request(NODE_ID, 'GET', '/whoami')).body, {aborted: false, path: '/whoami', query: {}, resource: '/whoami', route: '/whoami', verb: 'GET'})
    assert.deepEqual((await gateway.request(NODE_ID, 'GET', '/whoami', {params: {}})).body, {aborted: false, path: '/whoami', query: {}, resource: '/whoami', route: '/whoami', verb: 'GET'})
    // A params value of null is dropped: no query, so no `?`.
    assert.deepEqual((await gateway.request(NODE_ID, 'GET', '/whoami', {params: {gone: null}})).body, {aborted: false, path: '/whoami', query: {}, resource: '/whoami', route: '/whoami', verb: 'GET'})
    assert.deepEqual((await gateway.request(NODE_ID, 'GET', '/whoami?a=1&a=2', {params: {b: 'x y'}})).body, {
      aborted: false,
      path: '/whoami',
      query: {a: ['1', '2'], b: 'x y'},
      resource: '/whoami?a=1&a=2&b=x+y',
      route: '/whoami',
      verb: 'GET',
    })
  })

  it('a request bounded by the gateway timeout fails with RW_ERR_TIMEOUT', async () => {
    await assert.rejects(gateway.request(NODE_ID, 'GET', '/slow', {timeoutMs: 50}), (error) => isRestwireError(error, 'RW_ERR_TIMEOUT') && (error as Error).message === 'no answer to GET /slow within 50 ms' && statusOf(error) === 504)
    // The timed-out request no longer counts as in flight on the gateway.
    assert.equal(gateway.nodes().find((node) => node.id === NODE_ID)?.inFlight, 0)
    releaseSlow()
  })

  it('an unknown node is RW_ERR_NODE_UNKNOWN, for requests and streams', async () => {
    await assert.rejects(gateway.request('ghost', 'GET', '/home'), (error) => isRestwireError(error, 'RW_ERR_NODE_UNKNOWN'))
    await assert.rejects(collect(gateway.stream('ghost', '/count')), (error) => isRestwireError(error, 'RW_ERR_NODE_UNKNOWN'))
    await assert.rejects(gateway.waitForNode('ghost', 10), (error) => isRestwireError(error, 'RW_ERR_TIMEOUT'))
  })

  it('an unknown stream route throws with status 404 instead of looking empty', async () => {
    await assert.rejects(collect(gateway.stream(NODE_ID, '/no-such-stream')), (error) => statusOf(error) === 404)
    await assert.rejects(collect(gateway.stream(NODE_ID, '/home')), (error) => statusOf(error) === 405)
  })

  it('a generator that throws after an item ends the stream with a 500 error', async () => {
    const seen: unknown[] = []
    await assert.rejects(
      (async () => {
        for await (const item of gateway.stream(NODE_ID, '/breaks')) seen.push(item)
      })(),
      (error: RestwireError) => error.code === 'RW_ERR_REMOTE_5XX' && statusOf(error) === 500,
    )
    assert.deepEqual(seen, ['first'])
  })

  it('a 10,000-item burst stream arrives complete and in order', async () => {
    const items = await collect(gateway.stream(NODE_ID, '/count', {params: {n: 10_000}}))
    assert.equal(items.length, 10_000)
    assert.ok(items.every((item, index) => item === index))
  })

  it('two interleaved streams and plain requests share one node', async () => {
    const [a, b, ...plain] = await Promise.all([
      collect(gateway.stream(NODE_ID, '/ticks/a', {params: {n: 50}})),
      collect(gateway.stream(NODE_ID, '/ticks/b', {params: {n: 50}})),
      ...Array.from({length: 20}, (_, n) => gateway.request(NODE_ID, 'POST', '/create', {data: {n}})),
    ])
    assert.deepEqual(a, Array.from({length: 50}, (_, i) => `a-${i}`))
    assert.deepEqual(b, Array.from({length: 50}, (_, i) => `b-${i}`))
    assert.deepEqual(plain.map((response) => (response as {body: unknown}).body), Array.from({length: 20}, (_, n) => ({n})))
  })

  it('cancel() mid-stream stops the generator (its finally block runs)', async () => {
    const stream = gateway.stream(NODE_ID, '/forever', {params: {tag: 'cancelled'}})
    const seen: unknown[] = []
    for await (const item of stream) {
      seen.push(item)
      if (seen.length === 3) await stream.cancel()
    }

    assert.deepEqual(seen.slice(0, 3), [0, 1, 2])
    await finallyOf('cancelled')
  })

  it('cancel() ends a stream whose generator is stuck between items, without waiting for a timeout', async () => {
    const stream = gateway.stream(NODE_ID, '/stuck')
    const seen: unknown[] = []
    for await (const item of stream) {
      seen.push(item)
      await stream.cancel()
    }

    assert.deepEqual(seen, ['only'])
    assert.equal(gateway.nodes()[0]!.inFlight, 0)
  })

  it('a null stream item ends the stream with a 500 instead of posing as the terminator', async () => {
    const seen: unknown[] = []
    await assert.rejects(
      (async () => {
        for await (const item of gateway.stream(NODE_ID, '/with-null')) seen.push(item)
      })(),
      (error: RestwireError) => error.code === 'RW_ERR_REMOTE_5XX' && /may not be null/.test(JSON.stringify(error.details)),
    )
    assert.deepEqual(seen, [1])
  })

  it('breaking out of for-await cancels the stream too', async () => {
    for await (const item of gateway.stream(NODE_ID, '/forever', {params: {tag: 'broken'}})) {
      if (item === 2) break
    }

    await finallyOf('broken')
    assert.equal(gateway.nodes()[0]!.inFlight, 0)
  })
})

describe('tunnel: raw bytes to a node', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-tunnel-raw-')
  let keys: TunnelKeys
  const router = new Router().route('GET', '/home', () => ({home: 'router'}))

  before(async () => {
    keys = await makeTunnelKeys(dir())
  })

  async function rawNode(): Promise<{raw: Awaited<ReturnType<typeof startRawGateway>>; node: TunnelNodeHandle; events: TunnelNodeEvent[]}> {
    const raw = await startRawGateway(keys.gatewayKey)
    const events: TunnelNodeEvent[] = []
    const node = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      nodeId: 'raw-node',
      onEvent: (event) => events.push(event),
      once: true,
      router,
      to: {host: '127.0.0.1', port: raw.port},
    })
    return {events, node, raw}
  }

  it('missing envelope keys get 400 with the request id; bad JSON gets 400 with id 0; the channel keeps serving', async () => {
    const {node, raw} = await rawNode()
    try {
      const tunnel = await raw.tunnel
      const write = (value: string): boolean => tunnel.channel.write(encodeGzipMember(value))
      write(JSON.stringify({id: 'r1', request_type: 'GET', router: '/home'}))
      write('{not json')
      write(JSON.stringify({data: null, id: 'r2', kwargs: {}, params: null, request_type: 'FETCH', router: '/home'}))
      write(JSON.stringify({data: null, id: 'r3', kwargs: {}, params: null, request_type: 'GET', router: '/home'}))
      write(JSON.stringify({data: null, id: 'r4', kwargs: {}, params: null, request_type: 'IDENTIFY', router: null}))
      const responses = await tunnel.waitFor(5)
      const byId = new Map(responses.map((response) => [response.request_id, response]))
      assert.equal(byId.get('r1')?.ssh_response_code, 400)
      assert.equal((byId.get('r1')?.response as {error: string}).error, 'missing keys "data", "params", "kwargs"')
      assert.equal(byId.get(0)?.ssh_response_code, 400)
      assert.equal(byId.get('r2')?.ssh_response_code, 400)
      assert.deepEqual(byId.get('r3')?.response, {home: 'router'})
      assert.deepEqual(byId.get('r4')?.response, {node_id: 'raw-node'})
      const ids = responses.map((response) => response.id)
      assert.ok(ids.every((id) => typeof id === 'string' && id !== '0'))
      assert.equal(new Set(ids).size, ids.length)
    } finally {
      raw.close()
      await node.close()
    }
  })

  it('a corrupt frame gets a final message with request_id 0 and closes only that channel', async () => {
    const {events, node, raw} = await rawNode()
    try {
      const tunnel = await raw.tunnel
      tunnel.channel.write(Buffer.from('this is not gzip at all'))
      await tunnel.closed
      assert.equal(tunnel.responses.at(-1)?.request_id, 0)
      assert.equal(tunnel.responses.at(-1)?.ssh_response_code, 400)
      assert.ok(events.some((event) => event.type === 'protocol-error'))
      const again = await tunnel.openAnother()
      again.channel.write(encodeGzipMember(JSON.stringify({data: null, id: 'x', kwargs: {}, params: null, request_type: 'GET', router: '/home'})))
      assert.deepEqual((await again.waitFor(1))[0]?.response, {home: 'router'}, 'the SSH connection still serves')
      assert.ok(!events.some((event) => event.type === 'disconnected'))
    } finally {
      raw.close()
      await node.close()
    }
  })
})

describe('tunnel: backpressure', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-tunnel-bp-')
  let produced = 0
  let stopped = false
  const router = new Router().route('STREAM', '/firehose', async function* () {
    try {
      for (;;) yield produced++
    } finally {
      stopped = true
    }
  })

  it('a consumer that stops reading stalls the node generator instead of buffering without bound', async () => {
    const keys = await makeTunnelKeys(dir())
    await trustNode(keys.knownNodesPath, 'bp', keys.nodeHostPublicKey)
    const gateway = await startTunnelGateway({identities: [keys.gatewayKey], knownNodesPath: keys.knownNodesPath, port: 0})
    const node = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      nodeId: 'bp',
      router,
      to: {host: '127.0.0.1', port: gateway.address.port},
    })
    try {
      await gateway.waitForNode('bp', 20_000)
      const stream = gateway.stream('bp', '/firehose')
      const iterator = stream[Symbol.asyncIterator]()
      assert.deepEqual(await iterator.next(), {done: false, value: 0})
      // Wait (up to 15 s) until production stops growing: the window is closed. A count that holds still
      // for 200 ms is what shows it, so the sleep is the point here.
      let last = -1
      for (const until = Date.now() + 15_000; produced !== last && Date.now() < until; ) {
        last = produced
        await new Promise((resolve) => setTimeout(resolve, 200))
      }

      assert.ok(produced < 200_000, `the node stalled after ${produced} items`)
      assert.deepEqual(await iterator.next(), {done: false, value: 1})
      await stream.cancel()
      assert.equal(stopped, true)
    } finally {
      await node.close()
      await gateway.close()
    }
  })
})
