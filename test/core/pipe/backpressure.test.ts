// A connection's budget for body bytes received and not yet consumed: past it, the hub stops reading
// that connection (others unaffected), so handlers that never read cannot make it hold a window per
// stream for every stream the peer opens.
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {connect as tlsConnect} from 'node:tls'
import {FrameType, encodeFrame, encodeJsonFrame} from '../../../src/core/pipe/frames.js'
import {builtinSource, createPipeHandler} from '../../../src/core/pipe/handlers.js'
import type {PipeHubHandle} from '../../../src/core/pipe/hub.js'
import {PIPE_PROTOCOL_VERSION, encodeEventMeta} from '../../../src/core/pipe/messages.js'
import {replyJson, startTestHub, startTestNode} from '../../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

const MIB = 1024 * 1024

describe('pipe: backpressure on what a peer sends', {skip: skipWithout('openssl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-pipe-backpressure-')
  let pki: PipePki
  let hub: PipeHubHandle

  before(async () => {
    pki = await makePipePki(dir())
    const handler = createPipeHandler({
      // Takes the event and never reads its body: the body waits in the hub until the event ends.
      functions: {post_hold: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null)))},
      sources: [builtinSource('hub')],
    })
    ;({hub} = await startTestHub(pki, {handler, maxBufferedBytes: 4 * MIB}))
  })
  after(async () => {
    await hub.close()
  })

  it('stops reading a node whose unread bodies pass maxBufferedBytes, without dropping it as silent; another node is served', async () => {
    const identity = await pki.identity('node-b')
    const socket = tlsConnect({ca: identity.ca, cert: identity.cert, host: '127.0.0.1', key: identity.key, port: hub.address.port, servername: 'hub'})
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()))
    socket.resume()
    socket.write(encodeJsonFrame(FrameType.HELLO, 0, 0, {heartbeatMs: 5000, role: 'node', version: PIPE_PROTOCOL_VERSION}))
    const block = encodeFrame(FrameType.DATA, 0, 0, Buffer.alloc(64 * 1024, 1))
    // 30 events of 1 MiB each (within each stream's 4 MiB window): 30 MiB if the hub read it all.
    for (let index = 0; index < 30; index++) {
      const id = 2 + 2 * index
      socket.write(encodeFrame(FrameType.EVENT, 0, id, encodeEventMeta({args: [], noun: 'hold', verb: 'POST'})))
      for (let part = 0; part < 16; part++) {
        block.writeUInt32BE(id, 4)
        socket.write(Buffer.from(block))
      }
    }

    await hub.waitForNode('node-b')
    // Five heartbeat timeouts (200 ms heartbeats): the hub does not read node-b's frames meanwhile,
    // which is its own doing, not node-b's silence. The wait is the point: node-b must outlast them.
    await sleep(3000)
    const held = hub.nodes().find((node) => node.name === 'node-b')?.inFlight ?? 0
    assert.ok(held >= 3 && held <= 8, `the hub opened ${held} of 30 events (a 4 MiB budget of 1 MiB bodies)`)
    const {node} = await startTestNode(pki, hub.address.port)
    try {
      await hub.waitForNode('node-a')
      assert.deepEqual(await replyJson(await hub.request('node-a', {args: ['x', 'y'], noun: 'cat', verb: 'GET'}, {timeoutMs: 5000})), {result_from_client: 'xy'})
    } finally {
      await node.close()
      socket.destroy()
    }
  })
})
