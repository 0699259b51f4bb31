import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {type TunnelCluster, joinTunnelCluster} from '../../../src/core/cluster/tunnel-cluster.js'
import type {RestwireError} from '../../../src/core/errors.js'
import type {RwRequest} from '../../../src/core/message/request.js'
import {Router} from '../../../src/core/message/router.js'
import {type TunnelHttpApiHandle, startTunnelHttpApi} from '../../../src/core/tunnel/http-api.js'
import {AuthorizedKeysFile, type TunnelGatewayEvent, type TunnelGatewayHandle, type TunnelNodeHandle, exposeNode, startTunnelGateway} from '../../../src/core/tunnel/index.js'
import {type NatsServer, startNatsServer} from '../../helpers/nats-server.js'
import {until} from '../../helpers/pipe-cluster-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {type TunnelKeys, makeTunnelKeys, trustNode} from '../../helpers/tunnel-fixture.js'
import {skipWithout} from '../../helpers/tools.js'

interface Gw {
  name: string
  cluster: TunnelCluster
  gateway: TunnelGatewayHandle
  api: TunnelHttpApiHandle
  base: string
  events: TunnelGatewayEvent[]
  close(): Promise<void>
}

const NODES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5']
const statusOf = (error: unknown): unknown => (error as RestwireError).status

describe('tunnel cluster: 3 gateways on NATS, nodes spread over them', {skip: skipWithout('nats-server'), timeout: 120_000}, () => {
  const dir = useTempDir('restwire-tunnel-cluster-')
  let keys: TunnelKeys
  let nats: NatsServer
  const gws: Gw[] = []
  const nodes = new Map<string, TunnelNodeHandle>()
  const finished = new Set<string>()
  const holder = (i: number): Gw => gws[i % 3]!

  const router = (id: string): Router =>
    new Router()
      .route('GET', '/whoami', () => ({node: id}))
      .route('POST', '/echo', (req) => [201, {body: req.body, query: req.query}])
      .route('GET', '/teapot', () => [418, {error: 'short and stout'}])
      .route('GET', '/hang', () => new Promise(() => {}))
      .route('STREAM', '/count', async function* (req: RwRequest) {
        for (let i = 0; i < Number(req.query.n ?? 10); i++) yield {i, node: id}
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
          finished.add(String(req.query.tag))
        }
      })

  const expose = async (id: string, to: Gw[], backoff?: {initialMs: number; maxMs: number}): Promise<TunnelNodeHandle> =>
    exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      backoff: backoff ?? {initialMs: 100, maxMs: 200},
      handlerTimeoutMs: 60_000,
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      nodeId: id,
      router: router(id),
      to: to.map((gw) => ({host: '127.0.0.1', port: gw.gateway.address.port})),
    })

  const startGw = async (name: string): Promise<Gw> => {
    const cluster = await joinTunnelCluster({awaitNodeMs: 500, hubName: name, name: 'test', servers: [nats.url]})
    const events: TunnelGatewayEvent[] = []
    const gateway = await startTunnelGateway({
      identities: [keys.gatewayKey],
      knownNodesPath: keys.knownNodesPath,
      onEvent: (event) => events.push(event),
      port: 0,
      registry: (local) => cluster.registry(local),
      timeoutMs: 1500,
    })
    const api = await startTunnelHttpApi(gateway, {port: 0})
    let closing: Promise<void> | undefined
    return {
      api,
      base: `http://127.0.0.1:${api.address.port}`,
      close: () =>
        (closing ??= (async () => {
          await api.close()
          await gateway.close()
          await cluster.close()
        })()),
      cluster,
      events,
      gateway,
      name,
    }
  }

  const listed = async (gw: Gw): Promise<Array<{id: string; gateway: string; fingerprint: string}>> =>
    (await (await fetch(`${gw.base}/nodes`)).json()) as Array<{id: string; gateway: string; fingerprint: string}>

  before(async () => {
    keys = await makeTunnelKeys(dir())
    await trustNode(keys.knownNodesPath, '*', keys.nodeHostPublicKey)
    nats = await startNatsServer()
    for (const name of ['gw-a', 'gw-b', 'gw-c']) gws.push(await startGw(name))
    for (const [i, id] of NODES.entries()) {
      const node = await expose(id, [holder(i)])
      nodes.set(id, node)
      await holder(i).gateway.waitForNode(id, 20_000)
    }
  })
  after(async () => {
    await Promise.all([...nodes.values()].map((node) => node.close()))
    await Promise.all(gws.map((gw) => gw.close()))
    await nats?.stop()
  })

  it('lists the whole cluster on every gateway, with the gateway holding each node', async () => {
    for (const gw of gws) {
      await until(`${gw.name} to list ${NODES.length} nodes`, async () => (await listed(gw)).length === NODES.length)
      const byId = new Map((await listed(gw)).map((node) => [node.id, node]))
      NODES.forEach((id, i) => {
        assert.equal(byId.get(id)?.gateway, holder(i).name, id)
        assert.equal(byId.get(id)?.fingerprint, keys.nodeHostKey.fingerprint, id)
      })
    }
  })

  it('reaches every node from every gateway: requests with data and params, statuses kept', async () => {
    for (const gw of gws) {
      for (const id of NODES) {
        assert.deepEqual(await gw.gateway.request(id, 'GET', '/whoami'), {body: {node: id}, status: 200})
        const response = await fetch(`${gw.base}/nodes/${id}/echo?x=1`, {body: JSON.stringify({big: 'y'.repeat(100_000)}), method: 'POST'})
        assert.equal(response.status, 201)
        assert.deepEqual(await response.json(), {body: {big: 'y'.repeat(100_000)}, query: {x: '1'}})
      }
    }

    const teapot = await fetch(`${gws[0]!.base}/nodes/n1/teapot`)
    assert.equal(teapot.status, 418)
    assert.deepEqual(await teapot.json(), {error: 'short and stout'})
    await assert.rejects(gws[0]!.gateway.request('n1', 'GET', '/nope'), (error: RestwireError) => statusOf(error) === 404 && error.code === 'RW_ERR_REMOTE_4XX')
  })

  it('follows a STREAM across gateways with its items in order (library and HTTP NDJSON), and a break mid-way', async () => {
    for (const gw of gws) {
      for (const id of NODES) {
        const items: unknown[] = []
        for await (const item of gw.gateway.stream(id, '/count?n=50')) items.push(item)
        assert.deepEqual(items, Array.from({length: 50}, (_, i) => ({i, node: id})))
      }
    }

    const text = await (await fetch(`${gws[0]!.base}/nodes/n2/count?n=500`, {headers: {accept: 'application/x-ndjson'}})).text()
    assert.deepEqual(text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown), Array.from({length: 500}, (_, i) => ({i, node: 'n2'})))
    const broken = (await (await fetch(`${gws[0]!.base}/nodes/n1/breaks`, {headers: {accept: 'application/x-ndjson'}})).text()).trimEnd().split('\n')
    assert.equal(JSON.parse(broken[0]!), 'first')
    const record = JSON.parse(broken[1]!) as {status: number; error: string}
    assert.equal(record.status, 500)
    assert.match(record.error, /stream broke/)
    const refused = await fetch(`${gws[0]!.base}/nodes/n1/nope`, {headers: {accept: 'application/x-ndjson'}})
    assert.equal(refused.status, 404)
    await refused.arrayBuffer()
  })

  it('cancels the node\'s STREAM when the HTTP client on another gateway goes away, and on cancel()', async () => {
    const controller = new AbortController()
    const response = await fetch(`${gws[0]!.base}/nodes/n1/forever?tag=http-gone`, {headers: {accept: 'application/x-ndjson'}, signal: controller.signal})
    assert.equal(response.status, 200)
    const reader = response.body!.getReader()
    let text = ''
    while (text.split('\n').length < 4) text += Buffer.from((await reader.read()).value!).toString()
    assert.ok(text.startsWith('0\n1\n2\n'))
    controller.abort()
    await until('the node to end the stream', () => finished.has('http-gone'))

    const stream = gws[2]!.gateway.stream('n0', '/forever?tag=lib-cancel')
    const items: unknown[] = []
    for await (const item of stream) {
      items.push(item)
      if (items.length === 3) break
    }

    assert.deepEqual(items, [0, 1, 2])
    await until('the node to end the library stream', () => finished.has('lib-cancel'))
  })

  it('gives 404 for a node no gateway holds and 504 for a node that does not answer, on any gateway', async () => {
    const unknown = await fetch(`${gws[1]!.base}/nodes/ghost/whoami`)
    assert.equal(unknown.status, 404)
    assert.equal(((await unknown.json()) as {code: string}).code, 'RW_ERR_NODE_UNKNOWN')
    const hang = await fetch(`${gws[1]!.base}/nodes/n2/hang`)
    assert.equal(hang.status, 504)
    assert.equal(((await hang.json()) as {code: string}).code, 'RW_ERR_TIMEOUT')
  })

  it('lets the newest connection win across gateways: the stale session on the other one is closed', async () => {
    // The stale one would redial at once and win back; a long backoff keeps it away after it is replaced.
    const stale = await expose('mover', [gws[0]!], {initialMs: 60_000, maxMs: 60_000})
    await gws[0]!.gateway.waitForNode('mover', 20_000)
    await until('gw-b to see "mover" on gw-a', async () => (await listed(gws[1]!)).some((node) => node.id === 'mover' && node.gateway === 'gw-a'))
    const fresh = await expose('mover', [gws[1]!])
    nodes.set('mover', fresh)
    await until('gw-a to close its stale session', () =>
      gws[0]!.events.some((event) => event.type === 'node-disconnected' && event.nodeId === 'mover' && /replaced by a newer connection of mover on hub gw-b/.test(event.reason)),
    )
    for (const gw of gws) await until(`${gw.name} to place "mover" on gw-b`, async () => (await listed(gw)).filter((node) => node.id === 'mover').map((node) => node.gateway).join() === 'gw-b')
    assert.deepEqual(await gws[2]!.gateway.request('mover', 'GET', '/whoami'), {body: {node: 'mover'}, status: 200})
    await stale.close()
  })

  it('a gateway closed mid-call: the call through another gateway fails 503 at once, and its node redials another gateway', async () => {
    const extra = await startGw('gw-d')
    gws.push(extra)
    const node = await expose('roamer', [extra, gws[0]!])
    nodes.set('roamer', node)
    await until('gw-d to hold "roamer"', async () => (await listed(gws[1]!)).some((entry) => entry.id === 'roamer'))
    const held = (await listed(gws[1]!)).find((entry) => entry.id === 'roamer')!.gateway
    const victim = gws.find((gw) => gw.name === held)!
    const caller = gws.find((gw) => gw !== victim)!
    // Through HTTP (the 1.5 s gateway timeout would give 504: 503 must come first).
    const hang = fetch(`${caller.base}/nodes/roamer/hang`)
    const stream = caller.gateway.stream('roamer', '/forever?tag=roamer')
    const iterator = stream[Symbol.asyncIterator]()
    await iterator.next()
    await new Promise((resolve) => setTimeout(resolve, 100))
    await victim.close()
    gws.splice(gws.indexOf(victim), 1)
    const response = await hang
    assert.equal(response.status, 503)
    await assert.rejects(async () => {
      for (;;) if ((await iterator.next()).done) break
    }, (error: RestwireError) => statusOf(error) === 503)
    const other = gws.find((gw) => gw !== victim && gw.name !== held)!
    await until('"roamer" to be reachable again', async () => {
      try {
        return (await other.gateway.request('roamer', 'GET', '/whoami')).status === 200
      } catch {
        return false
      }
    })
  })

  it('keeps serving its own nodes while NATS is down, says degraded in GET /nodes headers, and rejoins by itself', async () => {
    const [a, b] = [gws[0]!, gws[1]!]
    const before = await fetch(`${a.base}/nodes`)
    assert.equal(before.headers.get('x-cluster-state'), 'connected')
    // A node held by another gateway, to reach again once NATS is back.
    const far = ((await before.json()) as Array<{id: string; gateway: string}>).find((entry) => entry.gateway !== a.name)!.id
    await nats.stop()
    for (const gw of [a, b]) {
      await until(`${gw.name} degraded`, async () => {
        const response = await fetch(`${gw.base}/nodes`)
        await response.arrayBuffer()
        return response.headers.get('x-cluster-state') === 'degraded'
      })
    }

    const listing = await fetch(`${a.base}/nodes`)
    assert.ok(Date.parse(listing.headers.get('x-cluster-since')!) > 0)
    // Still the one-gateway array, now of this gateway's own nodes only.
    const own = (await listing.json()) as Array<{id: string; gateway: string}>
    assert.ok(Array.isArray(own) && own.length > 0 && own.every((entry) => entry.gateway === a.name))
    const mine = await a.gateway.request(own[0]!.id, 'GET', '/whoami')
    assert.deepEqual(mine.body, {node: own[0]!.id})
    // A node on another gateway: as unknown to this gateway alone.
    await assert.rejects(a.gateway.request(far, 'GET', '/whoami'), (error: RestwireError) => [404, 503].includes(statusOf(error) as number))

    await nats.start()
    await until('gw-a to rejoin and list the others again', async () => {
      const response = await fetch(`${a.base}/nodes`)
      const nodesNow = (await response.json()) as Array<{id: string}>
      return response.headers.get('x-cluster-state') === 'connected' && nodesNow.some((entry) => entry.id === far)
    }, 20_000)
    assert.equal((await a.gateway.request(far, 'GET', '/whoami')).status, 200)
  })
})
