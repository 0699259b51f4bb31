// The gateway client from the library entry (restwire/pipe), as a library user calls it, against a
// real hub, node and their local HTTP gateways over mutual TLS.
import assert from 'node:assert/strict'
import {createServer} from 'node:net'
import type {AddressInfo, Socket} from 'node:net'
import {Readable} from 'node:stream'
import {after, before, describe, it} from 'node:test'
import {
  EVENT_RETURN_CODE_HEADER,
  type PipeGatewayHandle,
  type PipeHubHandle,
  type PipeNodeHandle,
  RETURN_HANDLER_RAISED,
  RETURN_NO_HANDLER,
  RETURN_OK,
  RestwireError,
  callPipeGateway,
  startPipeGateway,
} from '../../../src/core/pipe/index.js'
import {startTestHub, startTestNode} from '../../helpers/pipe-fixture.js'
import {makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

describe('restwire/pipe: the gateway client', {skip: skipWithout('openssl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-pipe-client-')
  let hub: PipeHubHandle
  let node: PipeNodeHandle
  let hubGateway: PipeGatewayHandle
  let nodeGateway: PipeGatewayHandle

  before(async () => {
    const pki = await makePipePki(dir())
    ;({hub} = await startTestHub(pki))
    ;({node} = await startTestNode(pki, hub.address.port))
    await hub.waitForNode('node-a')
    hubGateway = await startPipeGateway({hub, kind: 'hub'}, {port: 0, timeoutMs: 2000})
    nodeGateway = await startPipeGateway({kind: 'node', node}, {port: 0, timeoutMs: 2000})
  })
  after(async () => {
    await hubGateway?.close()
    await nodeGateway?.close()
    await node?.close()
    await hub?.close()
  })

  it('calls a node through the hub gateway and the hub through the node gateway: status, code, body', async () => {
    const toNode = await callPipeGateway({gateway: hubGateway.url, path: '/client/node-a/whoami', timeoutMs: 2000, verb: 'GET'})
    assert.deepEqual([toNode.status, toNode.code], [200, RETURN_OK])
    assert.equal(toNode.headers[EVENT_RETURN_CODE_HEADER], '0')
    assert.deepEqual(await toNode.body.json(), {peer: 'hub'})
    const toHub = await callPipeGateway({gateway: nodeGateway.url, path: '/server/whoami', timeoutMs: 2000, verb: 'GET'})
    assert.deepEqual(await toHub.body.json(), {peer: 'node-a'})
  })

  it('sends a body as a Buffer or a stream, binary intact, with its content type', async () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x0d])
    const buffered = await callPipeGateway({body: bytes, contentType: 'application/x-test', gateway: hubGateway.url, path: '/client/node-a/echo', timeoutMs: 2000, verb: 'POST'})
    assert.equal(buffered.contentType, 'application/x-test')
    assert.deepEqual(Buffer.from(await buffered.body.arrayBuffer()), bytes)
    const streamed = await callPipeGateway({body: Readable.from([bytes, bytes]), gateway: hubGateway.url, path: '/client/node-a/echo', timeoutMs: 2000, verb: 'POST'})
    assert.deepEqual(Buffer.from(await streamed.body.arrayBuffer()), Buffer.concat([bytes, bytes]))
  })

  it('a handler that raises or is missing is a 200 with its return code; an unknown node has no code', async () => {
    const raised = await callPipeGateway({gateway: hubGateway.url, path: '/client/node-a/fail', timeoutMs: 2000, verb: 'GET'})
    assert.deepEqual([raised.status, raised.code], [200, RETURN_HANDLER_RAISED])
    assert.match(((await raised.body.json()) as {error: string}).error, /the handler broke/)
    const missing = await callPipeGateway({gateway: hubGateway.url, path: '/client/node-a/nothing-here', timeoutMs: 2000, verb: 'GET'})
    assert.equal(missing.code, RETURN_NO_HANDLER)
    await missing.body.dump()
    const absent = await callPipeGateway({gateway: hubGateway.url, path: '/client/node-z/whoami', timeoutMs: 2000, verb: 'GET'})
    assert.notEqual(absent.status, 200)
    assert.equal(absent.code, null)
    await absent.body.dump()
  })

  it('RW_ERR_CONNECT when nothing listens, RW_ERR_TIMEOUT when the gateway never answers', async () => {
    const refused = await callPipeGateway({gateway: 'http://127.0.0.1:1', path: '/server/whoami', timeoutMs: 2000, verb: 'GET'}).catch((error: unknown) => error)
    assert.ok(refused instanceof RestwireError)
    assert.equal(refused.code, 'RW_ERR_CONNECT')
    assert.match(refused.hint ?? '', /pipe serve/)
    // A listener that accepts and never answers: the reply's headers never come.
    const accepted: Socket[] = []
    const silent = createServer((socket) => void accepted.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
      const timedOut = await callPipeGateway({gateway: url, path: '/server/whoami', timeoutMs: 100, verb: 'GET'}).catch((error: unknown) => error)
      assert.ok(timedOut instanceof RestwireError)
      assert.equal(timedOut.code, 'RW_ERR_TIMEOUT')
    } finally {
      for (const socket of accepted) socket.destroy()
      silent.close()
    }
  })
})
