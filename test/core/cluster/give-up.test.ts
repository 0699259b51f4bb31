// A call across hubs never waits in silence: the hub holding the node that gives a call up (it judged
// the caller's hub gone) tells the caller at once (503), where the caller used to wait for its 15 s open
// bound or the gateway's timeout; and a stall of the hubs' own process (a loaded machine: timers run
// before the beats waiting unread in the socket) does not make hubs judge each other gone, so a call in
// flight across the stall is answered.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {after, before, describe, it} from 'node:test'
import {createPipeHandler} from '../../../src/core/pipe/handlers.js'
import type {PipeNodeHandle} from '../../../src/core/pipe/node.js'
import {type RawNats, connectRawNats} from '../../helpers/nats-raw.js'
import {type NatsServer, startNatsServer} from '../../helpers/nats-server.js'
import {type ClusterHub, clusterNodes, startClusterHub, until} from '../../helpers/pipe-cluster-fixture.js'
import {postSha, startTestNode} from '../../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

/** Blocks this process's event loop (both hubs, the node, the clients) for `ms`: a stalled machine. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

describe('cluster: a call across hubs is never given up in silence', {skip: skipWithout('nats-server', 'openssl'), timeout: 90_000}, () => {
  const dir = useTempDir('restwire-cluster-give-up-')
  let pki: PipePki
  let nats: NatsServer
  let raw: RawNats
  const hubs: ClusterHub[] = []
  const ids = new Map<string, string>()
  let node: PipeNodeHandle
  let mover: PipeNodeHandle | undefined
  let handler: ReturnType<typeof createPipeHandler>
  /** Calls of get_gate that reached the node, each released by the test. */
  const entered: Array<() => void> = []

  before(async () => {
    pki = await makePipePki(dir())
    nats = await startNatsServer()
    // Heartbeats of 5 s on the pipe links: the stall below must not end them (that is not what this checks).
    await pki.addNode('mover')
    // awaitNodeMs 10 s: the retried call below waits for its node to connect.
    for (const name of ['hub-a', 'hub-b']) hubs.push(await startClusterHub(pki, name, {awaitNodeMs: 10_000, servers: [nats.url]}, {gatewayTimeoutMs: 30_000, heartbeatMs: 5000}))
    handler = createPipeHandler({
      functions: {
        get_gate: () => new Promise((resolve) => entered.push(() => resolve({released: true}))),
        post_sha: postSha,
      },
    })
    ;({node} = await startTestNode(pki, hubs[1]!.hub.address.port, {handler, heartbeatMs: 5000}))
    await node.connected()
    await until('hub-a to list node-a on hub-b', async () => (await clusterNodes(hubs[0]!.gateway)).nodes.some((entry) => entry.name === 'node-a' && entry.hub === 'hub-b'))
    raw = await connectRawNats(nats.port)
    raw.sub('restwire.pipe.test.beat', (msg) => {
      const {hub, name} = JSON.parse(msg.data.toString()) as {hub: string; name: string}
      ids.set(name, hub)
    })
    await until('both hub ids', () => ids.size === 2)
  })
  after(async () => {
    raw?.close()
    for (const release of entered) release()
    await mover?.close()
    await node?.close()
    await Promise.all(hubs.map((hub) => hub.close()))
    await nats?.stop()
  })

  it('the holding hub that judges the caller\'s hub gone tells the caller: 503 at once, not the gateway\'s 504', async () => {
    const before = entered.length
    const call = fetch(`${hubs[0]!.gateway.url}/client/node-a/gate`)
    await until('the call to reach the node', () => entered.length > before)
    // Any member may say a hub left (NATS is the trust boundary): hub-b now takes hub-a for gone, and
    // gives up the calls it serves for it.
    raw.pub('restwire.pipe.test.bye', JSON.stringify({hub: ids.get('hub-a')}))
    const response = await call
    const text = await response.text()
    assert.equal(response.status, 503, text)
    assert.match(text, /gone/)
    // The next call is served as before.
    const again = fetch(`${hubs[0]!.gateway.url}/client/node-a/gate`)
    await until('the next call to reach the node', () => entered.length > before + 1)
    entered.at(-1)!()
    const answer = await again
    assert.equal(answer.status, 200, await answer.clone().text())
    assert.deepEqual(await answer.json(), {released: true})
  })

  it('a malformed message into a live call fails that call with 502, and the holding hub is told to stop', async () => {
    const before = entered.length
    // Any member may read the opens (NATS is the trust boundary): the caller's call subject is their reply subject.
    const opens: string[] = []
    raw.sub(`restwire.pipe.test.node.${Buffer.from('node-a').toString('base64url')}`, (msg) => void (msg.reply && opens.push(msg.reply)))
    await raw.flush()
    const call = fetch(`${hubs[0]!.gateway.url}/client/node-a/gate`)
    await until('the call to reach the node', () => entered.length > before && opens.length > 0)
    // A data message cut short after its type byte.
    raw.pub(opens.at(-1)!, Buffer.from([3]))
    const response = await call
    const text = await response.text()
    assert.equal(response.status, 502, text)
    assert.match(text, /malformed message/)
    entered.at(-1)!()
  })

  it('a hub silent past 3 s that answers pings stays; once it stops answering, it is gone', async () => {
    // A member beating once as hub "quiet", then answering its pings only while `answering`.
    const id = 'abcdef012345'
    let answering = true
    raw.sub(`restwire.pipe.test.hub.${id}.ping`, (msg) => {
      if (answering && msg.reply) raw.pub(msg.reply, '')
    })
    await raw.flush()
    raw.pub('restwire.pipe.test.beat', JSON.stringify({hub: id, name: 'quiet'}))
    const listed = async (): Promise<boolean> => (await clusterNodes(hubs[0]!.gateway)).cluster.hubs.includes('quiet')
    await until('hub-a to list hub "quiet"', listed)
    // Past its 3 s of silence, and then some: each silence check pinged it, and it answered.
    await new Promise((resolve) => setTimeout(resolve, 5000))
    assert.ok(await listed(), 'a silent hub that answers its pings was dropped')
    answering = false
    await until('hub-a to drop hub "quiet"', async () => !(await listed()), 15_000)
  })

  it('a call retried after "no responders" (a stale directory) sends its whole streamed body, not what the first attempt left unread', async () => {
    // A member claims "mover" for a hub of its own: hub-a's open finds no subscriber, and the call
    // waits for the node to connect somewhere, then goes again.
    const fake = 'fedcba543210'
    raw.pub('restwire.pipe.test.beat', JSON.stringify({hub: fake, name: 'fake'}))
    raw.pub('restwire.pipe.test.up', JSON.stringify({hub: fake, name: 'fake', nodes: [{address: '127.0.0.1:1', at: Date.now(), node: 'mover'}]}))
    const listedOn = async (): Promise<string | undefined> => (await clusterNodes(hubs[0]!.gateway)).nodes.find((entry) => entry.name === 'mover')?.hub
    await until('hub-a to place "mover" on the fake hub', async () => (await listedOn()) === 'fake')
    const body = Buffer.alloc(2 * 1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff
    const call = fetch(`${hubs[0]!.gateway.url}/client/mover/sha`, {body, method: 'POST'})
    // The first attempt found no responders: hub-a dropped the stale entry and waits for the node.
    await until('hub-a to drop the stale entry', async () => (await listedOn()) === undefined)
    ;({node: mover} = await startTestNode(pki, hubs[1]!.hub.address.port, {handler, heartbeatMs: 5000, name: 'mover'}))
    const response = await call
    assert.equal(response.status, 200, await response.clone().text())
    assert.deepEqual(await response.json(), {bytes: body.length, sha: createHash('sha256').update(body).digest('hex')})
    // The fake hub is silent and answers no ping: it goes.
    await until('hub-a to drop the fake hub', async () => !(await clusterNodes(hubs[0]!.gateway)).cluster.hubs.includes('fake'), 15_000)
  })

  it('a stall of 3.5 s of the hubs\' own process: no hub is judged gone, the call in flight is answered', async () => {
    const before = entered.length
    const call = fetch(`${hubs[0]!.gateway.url}/client/node-a/gate`)
    await until('the call to reach the node', () => entered.length > before)
    // Past the 3 s of silence after which a hub is gone: every beat of the other hub waits unread.
    stall(3500)
    // Let the timers that were due run, and the beats that waited be read.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    entered.at(-1)!()
    const response = await call
    assert.equal(response.status, 200, await response.clone().text())
    assert.deepEqual(await response.json(), {released: true})
    assert.deepEqual(hubs.map((hub) => hub.states), [[], []], 'no hub lost NATS')
    for (const hub of hubs) assert.deepEqual((await clusterNodes(hub.gateway)).cluster.hubs, ['hub-a', 'hub-b'])
  })
})
