// Batches between hubs (nats-link.ts, wire.ts): the messages of one event-loop turn to one destination
// go as one NATS message. Two real hubs in this process, a real node on hub-b, a real nats-server, and a
// raw NATS client watching the subjects, so that each test checks a batch really crossed.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {after, before, describe, it} from 'node:test'
import {MessageType} from '../../../src/core/cluster/wire.js'
import type {PipeNodeHandle} from '../../../src/core/pipe/node.js'
import {type RawMessage, type RawNats, connectRawNats} from '../../helpers/nats-raw.js'
import {type NatsServer, startNatsServer} from '../../helpers/nats-server.js'
import {type ClusterHub, clusterNodes, startClusterHub, until} from '../../helpers/pipe-cluster-fixture.js'
import {startTestNode} from '../../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

const PREFIX = 'restwire.pipe.test'
const nodeSubject = (name: string): string => `${PREFIX}.node.${Buffer.from(name).toString('base64url')}`
const MIB = 1024 * 1024

/** `mib` MiB of a pattern, in pieces of 100 KiB (a body that streams: more than the inline bound). */
async function* pattern(mib: number): AsyncGenerator<Buffer> {
  const piece = Buffer.alloc(100 * 1024)
  for (let i = 0; i < piece.length; i++) piece[i] = (i * 7) & 0xff
  for (let sent = 0; sent < mib * MIB; sent += piece.length) yield piece.subarray(0, Math.min(piece.length, mib * MIB - sent))
}

async function digest(source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>): Promise<{bytes: number; sha: string}> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of source) {
    hash.update(chunk)
    bytes += chunk.byteLength
  }

  return {bytes, sha: hash.digest('hex')}
}

describe('cluster: batches between hubs', {skip: skipWithout('nats-server', 'openssl'), timeout: 120_000}, () => {
  const dir = useTempDir('restwire-cluster-batch-')
  let pki: PipePki
  let nats: NatsServer
  let hubA: ClusterHub
  let hubB: ClusterHub
  let node: PipeNodeHandle
  let spy: RawNats
  const seen: RawMessage[] = []
  const hubIds = new Map<string, string>()

  before(async () => {
    pki = await makePipePki(dir())
    await pki.addNode('node-a')
    nats = await startNatsServer({monitor: true})
    hubA = await startClusterHub(pki, 'hub-a', {servers: [nats.url]})
    hubB = await startClusterHub(pki, 'hub-b', {servers: [nats.url]})
    ;({node} = await startTestNode(pki, hubB.hub.address.port))
    await node.connected()
    await until('hub-a to see node-a', async () => (await clusterNodes(hubA.gateway)).nodes.some((entry) => entry.name === 'node-a'))
    spy = await connectRawNats(nats.port)
    spy.sub(`${PREFIX}.beat`, (msg) => {
      const {hub, name} = JSON.parse(msg.data.toString()) as {hub: string; name: string}
      hubIds.set(name, hub)
    })
    // node-a's subject only: a subscriber on another node's subject would answer for it (no "no responders").
    spy.sub(nodeSubject('node-a'), (msg) => seen.push(msg))
    spy.sub('_INBOX.*._b', (msg) => seen.push(msg))
    await until('both hub ids', () => hubIds.size === 2)
  })
  after(async () => {
    spy?.close()
    await node?.close()
    await hubA?.close()
    await hubB?.close()
    await nats?.stop()
  })

  /** Batches (first byte 7) seen on `subject` from message `from` on. */
  const batchesOn = (subject: string, from: number): RawMessage[] => seen.slice(from).filter((msg) => msg.subject === subject && msg.data[0] === MessageType.batch)

  it('several calls to one node in one turn, one streaming a body each way: opens and replies cross as batches, every answer intact', async () => {
    const from = seen.length
    const options = {timeoutMs: 20_000}
    // All made in this one turn: their opens leave hub-a together.
    const small = Array.from({length: 12}, (_, i) =>
      hubA.hub.request('node-a', {args: [], body: Buffer.from(`small ${i}`), contentType: 'text/plain', noun: 'echo', verb: 'POST'}, options),
    )
    const streamedUp = hubA.hub.request('node-a', {args: [], body: pattern(3), contentType: 'application/octet-stream', noun: 'echo', verb: 'POST'}, options)
    const streamedDown = hubA.hub.request('node-a', {args: ['2'], noun: 'big', verb: 'GET'}, options)
    for (const [i, reply] of (await Promise.all(small)).entries()) {
      assert.equal(reply.code, 0)
      assert.equal((await reply.read()).toString(), `small ${i}`)
    }

    const up = await streamedUp
    assert.deepEqual(await digest(up.body), await digest(pattern(3)))
    const down = await streamedDown
    const expected = Buffer.alloc(MIB)
    for (let i = 0; i < expected.length; i++) expected[i] = i & 0xff
    assert.deepEqual(await digest(down.body), await digest([expected, expected]))
    await spy.flush()
    await until('the spy to see the batches', () => batchesOn(nodeSubject('node-a'), from).length > 0 && batchesOn(`_INBOX.${hubIds.get('hub-a')}._b`, from).length > 0)
    // Every batch carries at least two messages, and none is over the bound.
    for (const msg of seen.slice(from).filter((m) => m.data[0] === MessageType.batch)) {
      assert.ok(msg.data.readUInt16BE(1) >= 2, 'a batch of fewer than two messages')
      assert.ok(msg.data.byteLength <= 64 * 1024, `a batch of ${msg.data.byteLength} bytes`)
    }
  })

  it('a lone call in its turn stays a plain message', async () => {
    await new Promise((resolve) => setImmediate(resolve))
    const from = seen.length
    const reply = await hubA.hub.request('node-a', {args: [], noun: 'whoami', verb: 'GET'}, {timeoutMs: 20_000})
    assert.deepEqual(JSON.parse((await reply.read()).toString()), {peer: 'hub'})
    await spy.flush()
    await until('the spy to see the open', () => seen.slice(from).some((msg) => msg.subject === nodeSubject('node-a')))
    assert.deepEqual(
      seen.slice(from).filter((msg) => msg.subject === nodeSubject('node-a')).map((msg) => msg.data[0]),
      [MessageType.open],
    )
  })

  it('a caller that goes away: the node on the other hub sees its event reset (the served call\'s signal)', async () => {
    const controller = new AbortController()
    const outcome = hubA.hub.request('node-a', {args: [], noun: 'hang', verb: 'GET'}, {signal: controller.signal, timeoutMs: 60_000}).then(
      () => undefined,
      (error: Error) => error,
    )
    await until('the event to reach the node', () => node.inFlight() === 1)
    controller.abort()
    await until('the node to see the event reset', () => node.inFlight() === 0)
    assert.ok(await outcome, 'the call was answered after its caller went away')
  })

  it('a batch of opens to a node no hub holds: every call of it gets 503 "not connected" after the bounded wait', async () => {
    // hub-a's directory is behind: it places "ghost" on hub-b (a claim as hub-b would make it), where no
    // session holds it, so nobody subscribes to its subject and the server answers "no responders".
    spy.pub(`${PREFIX}.up`, JSON.stringify({hub: hubIds.get('hub-b'), name: 'hub-b', nodes: [{address: '127.0.0.1:1', at: Date.now(), node: 'ghost'}]}))
    await until('hub-a to place ghost on hub-b', async () => (await clusterNodes(hubA.gateway)).nodes.some((entry) => entry.name === 'ghost'))
    // Made in one turn: their opens leave hub-a in a few batches (a batch goes once 4 KiB wait), so the
    // server receives far fewer messages than opens (the hubs' heartbeats add a few).
    const before = await nats.inMsgs()
    const calls = Array.from({length: 200}, (_, i) =>
      hubA.hub.request('ghost', {args: [], body: Buffer.from(`to nobody ${i}`), noun: 'echo', verb: 'POST'}, {timeoutMs: 20_000}).then(
        () => assert.fail('a call to a node no hub holds was answered'),
        (error: Error & {details?: {status?: number}}) => error,
      ),
    )
    for (const error of await Promise.all(calls)) {
      assert.match(error.message, /not connected/)
      assert.equal(error.details?.status, 503)
    }

    const received = (await nats.inMsgs()) - before
    assert.ok(received < 100, `the server received ${received} messages for 200 opens: not batched`)
  })
})
