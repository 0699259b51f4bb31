// The hub's bounds on connections that have not finished TLS and HELLO: each closed within its login
// grace (counted from the TCP accept, logged once), the excess over maxStartups refused at once, and
// connected nodes never counted.
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import type {PipeHubEvent, PipeHubHandle} from '../../../src/core/pipe/hub.js'
import {type EventLog, replyJson, startTestHub, startTestNode} from '../../helpers/pipe-fixture.js'
import {makePipePki, type PipePki} from '../../helpers/pipe-pki.js'
import {closedWithin, floodConnectionsAtOnce} from '../../helpers/hostile.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

describe('pipe hub: login grace and max startups', {skip: skipWithout('openssl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-pipe-startup-')
  let pki: PipePki
  let hub: PipeHubHandle
  let log: EventLog<PipeHubEvent>

  before(async () => {
    pki = await makePipePki(dir())
    ;({hub, log} = await startTestHub(pki, {loginGraceMs: 500, maxStartups: 3}))
  })
  after(async () => {
    await hub.close()
  })

  it('refuses connections past maxStartups at once, closes the rest at the grace time with one log line each; nodes still get in', async () => {
    const {node} = await startTestNode(pki, hub.address.port)
    await hub.waitForNode('node-a')
    try {
      const from = log.events.length
      const started = Date.now()
      // At once: the hub accepts all five in one burst, so no grace runs out between them.
      const sockets = await floodConnectionsAtOnce({port: hub.address.port}, 5)
      assert.deepEqual(await Promise.all(sockets.map((socket) => closedWithin(socket, 3000))), [true, true, true, true, true])
      assert.ok(Date.now() - started >= 450, 'closed before the grace time')
      const rejected = log.events.slice(from).filter((event) => event.type === 'node-rejected')
      assert.deepEqual(rejected.map((event) => (event.type === 'node-rejected' ? event.reason : '')).sort(), [
        'more than 3 connections without a HELLO yet',
        'more than 3 connections without a HELLO yet',
        'no TLS handshake and HELLO within 500 ms',
        'no TLS handshake and HELLO within 500 ms',
        'no TLS handshake and HELLO within 500 ms',
      ])
      // The connected node never counted and is still served; the gate's places are free again.
      assert.deepEqual(await replyJson(await hub.request('node-a', {args: ['o', 'k'], noun: 'cat', verb: 'GET'}, {timeoutMs: 5000})), {result_from_client: 'ok'})
      const late = await startTestNode(pki, hub.address.port, {name: 'node-b'})
      await late.node.connected()
      await hub.waitForNode('node-b')
      await late.node.close()
    } finally {
      await node.close()
    }
  })
})
