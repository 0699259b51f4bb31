// The inspector on a real pipe hub's HTTP gateway: the nodes, events recorded by the hub, and replay as
// one more hub → node event (args kept; a streamed body the hub did not keep must be edited to replay).
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {type Inspector, createInspector} from '../../../src/core/observe/inspector.js'
import {TrafficLog} from '../../../src/core/observe/traffic.js'
import {type PipeGatewayHandle, startPipeGateway} from '../../../src/core/pipe/gateway.js'
import type {PipeHubHandle} from '../../../src/core/pipe/hub.js'
import {pipeInspectTarget} from '../../../src/core/pipe/inspect-target.js'
import type {PipeNodeHandle} from '../../../src/core/pipe/node.js'
import {INSPECT, openSse, rawRequest} from '../../helpers/inspector-http.js'
import {startTestHub, startTestNode} from '../../helpers/pipe-fixture.js'
import {makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'
import {waitFor} from '../../helpers/wait.js'

describe('inspector on a pipe hub', {skip: skipWithout('openssl'), timeout: 90_000}, () => {
  const dir = useTempDir('restwire-inspector-pipe-')
  const log = new TrafficLog({bodies: true})
  let hub: PipeHubHandle
  let node: PipeNodeHandle
  let gateway: PipeGatewayHandle
  let inspector: Inspector
  let port: number

  before(async () => {
    const pki = await makePipePki(dir())
    hub = (await startTestHub(pki, {traffic: log})).hub
    node = (await startTestNode(pki, hub.address.port)).node
    await hub.waitForNode('node-a')
    inspector = createInspector({bindHost: '127.0.0.1', log, target: pipeInspectTarget(hub, 10_000)})
    gateway = await startPipeGateway({hub, kind: 'hub'}, {inspector, port: 0})
    port = gateway.address.port
  })
  after(async () => {
    inspector?.close()
    await gateway?.close()
    await node?.close()
    await hub?.close()
  })

  const recordOf = async (method: string, path: string, body?: string): Promise<number> => {
    const before = log.recent().at(-1)?.id ?? 0
    const answer = await rawRequest(port, path, {body, method})
    assert.equal(answer.status, 200, answer.body)
    return (await waitFor(() => log.recent().find((r) => r.id > before && r.direction === 'out'), 10_000, `the record of ${path}`)).id
  }

  const replay = (id: number, body?: string): Promise<{status: number; body: string}> =>
    rawRequest(port, `/inspect/api/records/${id}/replay`, {body: JSON.stringify(body === undefined ? {} : {body}), headers: INSPECT, method: 'POST'})

  it('lists the node by its certificate name and streams the hub\'s events', async () => {
    const sse = await openSse(port)
    try {
      const snapshot = (await sse.next((e) => e.event === 'snapshot')).data as {about: {name: string}; peers: Array<{id: string}>}
      assert.equal(snapshot.about.name, 'pipe hub')
      assert.deepEqual(snapshot.peers.map((p) => p.id), ['node-a'])
      const id = await recordOf('GET', '/client/node-a/whoami')
      const live = (await sse.next((e) => e.event === 'record' && (e.data as {id: number}).id === id)).data as {verb: string; path: string; peer: string}
      assert.deepEqual({path: live.path, peer: live.peer, verb: live.verb}, {path: 'whoami', peer: 'node-a', verb: 'GET'})
    } finally {
      sse.close()
    }
  })

  it('replays an event with its args, and an edited body', async () => {
    const cat = await recordOf('GET', '/client/node-a/cat//left/right')
    const again = JSON.parse((await replay(cat)).body) as {status: number; response: {text: string; headers: Record<string, string>}}
    assert.equal(again.status, 0)
    assert.match(again.response.text, /left/)
    assert.match(again.response.text, /right/)
    assert.equal(again.response.headers['x-event-return-code'], '0')

    const echo = await recordOf('POST', '/client/node-a/echo', 'first body')
    const unkept = await replay(echo)
    assert.equal(unkept.status, 409, 'a streamed body the hub did not keep cannot be resent unchanged')
    const edited = JSON.parse((await replay(echo, 'second body')).body) as {status: number; response: {text: string}}
    assert.equal(edited.status, 0)
    assert.equal(edited.response.text, 'second body')
  })
})
