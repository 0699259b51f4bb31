import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, before, describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import type {PipeHubHandle} from '../../../src/core/pipe/hub.js'
import type {PipeNodeHandle} from '../../../src/core/pipe/node.js'
import {type PipePki, makePipePki} from '../../helpers/pipe-pki.js'
import {type EventLog, replyJson, replyText, startTestHub, startTestNode} from '../../helpers/pipe-fixture.js'
import type {PipeHubEvent} from '../../../src/core/pipe/hub.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'
import {waitFor} from '../../helpers/wait.js'

const T = {timeoutMs: 10_000}

describe('pipe: events both ways over mutual TLS', {skip: skipWithout('openssl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-pipe-')
  let pki: PipePki
  let hub: PipeHubHandle
  let hubLog: EventLog<PipeHubEvent>
  let node: PipeNodeHandle
  const cleanup: Array<() => Promise<void>> = []

  before(async () => {
    pki = await makePipePki(dir())
    ;({hub, log: hubLog} = await startTestHub(pki))
    ;({node} = await startTestNode(pki, hub.address.port))
    await hub.waitForNode('node-a')
  })
  after(async () => {
    for (const step of cleanup.reverse()) await step()
    await node.close()
    await hub.close()
  })

  it('names the node by its certificate and lists it', async () => {
    const [info] = hub.nodes()
    assert.equal(info?.name, 'node-a')
    assert.match(info!.address, /^127\.0\.0\.1:\d+$/)
    assert.equal(info!.inFlight, 0)
    const connected = await hubLog.next((event) => event.type === 'node-connected')
    assert.deepEqual({...connected, address: undefined}, {address: undefined, node: 'node-a', type: 'node-connected'})
  })

  it('runs the built-in examples on each side: time and cat', async () => {
    const time = (await replyJson(await hub.request('node-a', {args: [], noun: 'time', verb: 'GET'}, T))) as Record<string, number>
    assert.equal(typeof time.time_from_client, 'number')
    const serverTime = (await replyJson(await node.request({args: [], noun: 'time', verb: 'GET'}, T))) as Record<string, number>
    assert.ok(Math.abs(serverTime.time_from_server! - Date.now() / 1000) < 60)
    const cat = await hub.request('node-a', {args: ['hello ', 'world'], noun: 'cat', verb: 'GET'}, T)
    assert.equal(cat.code, 0)
    assert.equal(cat.contentType, 'application/json')
    assert.deepEqual(await replyJson(cat), {result_from_client: 'hello world'})
  })

  it('tells each side who the peer is', async () => {
    assert.deepEqual(await replyJson(await hub.request('node-a', {args: [], noun: 'whoami', verb: 'GET'}, T)), {peer: 'hub'})
    assert.deepEqual(await replyJson(await node.request({args: [], noun: 'whoami', verb: 'GET'}, T)), {peer: 'node-a'})
  })

  it('refuses an event whose metadata does not fit its binary layout before sending it (400)', async () => {
    const refused = await hub.request('node-a', {args: [], noun: 'time', verb: 'G'.repeat(256)}, T).then(() => undefined, (error: unknown) => error)
    assert.ok(isRestwireError(refused, 'RW_ERR_USAGE'), String(refused))
    assert.equal(refused.details?.status, 400)
    assert.equal((await hub.request('node-a', {args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
  })

  it('answers 251 when the handler throws and 255 when there is none, and keeps serving', async () => {
    const failed = await hub.request('node-a', {args: [], noun: 'fail', verb: 'GET'}, T)
    assert.equal(failed.code, 251)
    assert.match(((await replyJson(failed)) as {error: string}).error, /get_fail raised: the handler broke/)
    const missing = await node.request({args: [], noun: 'no/such', verb: 'DELETE'}, T)
    assert.equal(missing.code, 255)
    assert.match(((await replyJson(missing)) as {error: string}).error, /no handler for DELETE no\/such \(delete_no_such\)/)
    assert.equal((await hub.request('node-a', {args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
  })

  it('carries binary bodies both ways unchanged, larger than one frame and one window', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17)
    const there = await hub.request('node-a', {args: [], body, contentType: 'application/x-test', noun: 'echo', verb: 'POST'}, T)
    assert.equal(there.contentType, 'application/x-test')
    assert.ok(Buffer.concat(await there.body.toArray()).equals(body))
    const back = await node.request({args: [], body, noun: 'echo', verb: 'POST'}, T)
    assert.ok(Buffer.concat(await back.body.toArray()).equals(body))
  })

  it('keeps many events in flight both ways; a slow handler holds up nothing else', async () => {
    let blockedDone = false
    const blocked = hub.request('node-a', {args: [], noun: 'blocked', verb: 'GET'}, T)
    void blocked.then(() => (blockedDone = true))
    const quick = await Promise.all(
      Array.from({length: 100}, (_, i) =>
        i % 2 === 0
          ? hub.request('node-a', {args: [String(i), 'x'], noun: 'cat', verb: 'GET'}, T).then(replyJson)
          : node.request({args: [String(i), 'y'], noun: 'cat', verb: 'GET'}, T).then(replyJson),
      ),
    )
    assert.deepEqual(quick[0], {result_from_client: '0x'})
    assert.deepEqual(quick[1], {result_from_server: '1y'})
    // The blocked one is still waiting when all 100 quick ones are done; releasing it answers it.
    assert.equal(blockedDone, false)
    await hub.request('node-a', {args: [], noun: 'release', verb: 'POST'}, T)
    assert.deepEqual(await replyJson(await blocked), {released: true})
  })

  it('a reply body nobody reads holds up only its own event: others and heartbeats carry on', async () => {
    const big = await hub.request('node-a', {args: ['16'], noun: 'big', verb: 'GET'}, T)
    // The node has sent one window and waits for credit; meanwhile everything else flows both ways.
    for (let i = 0; i < 20; i++) {
      assert.equal((await hub.request('node-a', {args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
      assert.equal((await node.request({args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
    }

    assert.equal(node.inFlight(), 1)
    let received = 0
    for await (const chunk of big.body) received += (chunk as Buffer).length
    assert.equal(received, 16 * 1024 * 1024)
    await waitFor(() => node.inFlight() === 0, 5000, 'the big event to end on the node')
  })

  it('refuses events beyond the peer\'s in-flight limit with 503, and serves the rest', async () => {
    const limited = await startTestNode(pki, hub.address.port, {maxInFlight: 2, name: 'node-b'})
    try {
      await hub.waitForNode('node-b')
      const outcome = (pending: Promise<unknown>): Promise<unknown> => pending.then(() => 'answered', (error: unknown) => error)
      const hanging = [1, 2].map(() => outcome(hub.request('node-b', {args: [], noun: 'hang', verb: 'GET'}, {timeoutMs: 300})))
      await assert.rejects(hub.request('node-b', {args: [], noun: 'time', verb: 'GET'}, T), (error) => {
        assert.ok(isRestwireError(error, 'RW_ERR_CLOSED'))
        assert.equal(error.details?.status, 503)
        assert.match(error.message, /too many events in flight/)
        return true
      })
      for (const result of await Promise.all(hanging)) assert.ok(isRestwireError(result, 'RW_ERR_TIMEOUT'))
      await waitFor(() => limited.node.inFlight() === 0, 5000, 'the hanging events to end on node-b')
      assert.equal((await hub.request('node-b', {args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
    } finally {
      await limited.node.close()
    }

    await waitFor(() => hub.nodes().length <= 1, 5000, 'the hub to drop node-b')
  })

  it('times out an event with no reply (504) and resets it on the peer', async () => {
    await assert.rejects(hub.request('node-a', {args: [], noun: 'hang', verb: 'GET'}, {timeoutMs: 200}), (error) => {
      assert.ok(isRestwireError(error, 'RW_ERR_TIMEOUT'))
      assert.equal(error.details?.status, 504)
      return true
    })
    assert.equal(hub.nodes()[0]!.inFlight, 0)
    // The RESET reaches the node a moment later; the handler is told (signal) and the event ends there too.
    await waitFor(() => node.inFlight() === 0, 5000, 'the RESET to end the event on the node')
  })

  it('refuses an unknown node with 404 at once', async () => {
    await assert.rejects(hub.request('nobody', {args: [], noun: 'time', verb: 'GET'}, T), (error) => {
      assert.ok(isRestwireError(error, 'RW_ERR_NODE_UNKNOWN'))
      assert.equal(error.details?.status, 404)
      return true
    })
  })

  it('replaces a node by a newer connection with the same name; the older one is closed', async () => {
    const from = hubLog.events.length
    const second = await startTestNode(pki, hub.address.port, {backoff: {initialMs: 60_000, maxMs: 60_000}})
    cleanup.push(() => second.node.close())
    await hubLog.next((event) => event.type === 'node-replaced' && event.node === 'node-a', from)
    await second.node.connected()
    assert.equal(hub.nodes().length, 1)
    assert.equal((await hub.request('node-a', {args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
  })

  it('waits a bounded time for a known node that is away, then 503', async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
    await node.close()
    await assert.rejects(hub.request('node-a', {args: [], noun: 'time', verb: 'GET'}, {timeoutMs: 300}), (error) => {
      assert.ok(isRestwireError(error, 'RW_ERR_CLOSED'))
      assert.equal(error.details?.status, 503)
      return true
    })
    // And an event sent while it is away is delivered when it comes back within the wait.
    const pending = hub.request('node-a', {args: [], noun: 'whoami', verb: 'GET'}, T)
    ;({node} = await startTestNode(pki, hub.address.port))
    assert.equal(await replyText(await pending), '{"peer":"hub"}')
  })
})
