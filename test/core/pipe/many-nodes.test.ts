import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import type {PipeHubHandle} from '../../../src/core/pipe/hub.js'
import type {PipeNodeHandle} from '../../../src/core/pipe/node.js'
import {replyJson, startTestHub, startTestNode} from '../../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

const NODES = 100
const names = Array.from({length: NODES}, (_, i) => `n${String(i).padStart(3, '0')}`)

describe(`pipe: ${NODES} nodes connected at once`, {skip: skipWithout('openssl'), timeout: 120_000}, () => {
  const dir = useTempDir('restwire-pipe-many-')
  let pki: PipePki
  let hub: PipeHubHandle
  const nodes: PipeNodeHandle[] = []

  before(async () => {
    pki = await makePipePki(dir())
    // Certificates in small batches: 100 openssl runs at once would only fight over two cores.
    for (let i = 0; i < NODES; i += 20) await Promise.all(names.slice(i, i + 20).map((name) => pki.addNode(name)))
    ;({hub} = await startTestHub(pki, {heartbeatMs: 1000}))
  })
  after(async () => {
    await Promise.all(nodes.map((node) => node.close()))
    await hub?.close()
  })

  it('accepts them all, lists them, and carries events to and from each one', async () => {
    nodes.push(...(await Promise.all(names.map(async (name) => (await startTestNode(pki, hub.address.port, {heartbeatMs: 1000, name})).node))))
    await Promise.all(names.map((name) => hub.waitForNode(name)))
    assert.deepEqual(hub.nodes().map((info) => info.name).sort(), names)
    const fromHub = await Promise.all(names.map(async (name) => replyJson(await hub.request(name, {args: [], noun: 'whoami', verb: 'GET'}, {timeoutMs: 30_000}))))
    assert.deepEqual(fromHub, names.map(() => ({peer: 'hub'})))
    const fromNodes = await Promise.all(nodes.map(async (node) => replyJson(await node.request({args: [], noun: 'whoami', verb: 'GET'}, {timeoutMs: 30_000}))))
    assert.deepEqual((fromNodes as Array<{peer: string}>).map((answer) => answer.peer).sort(), names)
  })
})
