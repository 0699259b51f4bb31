// The gateway's HTTP API client from the library entry (restwire/tunnel), as a library user calls it,
// against a real gateway, its HTTP API and a real node.
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {Agent} from 'undici'
import {RestwireError, Router, callTunnelNode, listTunnelNodes, openTunnelStream} from '../../../src/core/tunnel/index.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {type HomeTunnel, startHomeTunnel} from '../../helpers/tunnel-fixture.js'

describe('restwire/tunnel: the gateway API client', {timeout: 60_000}, () => {
  const dir = useTempDir()
  let tunnel: HomeTunnel
  let gateway: string
  const node = 'lib-node'

  before(async () => {
    const router = new Router()
      .route('GET', '/hello', ({query}) => ({hello: query.name ?? 'world'}))
      .route('POST', '/users', ({body}) => [201, body])
      .route('GET', '/missing', () => [404, {error: 'no such user'}])
      .route('GET', '/slow', () => new Promise((resolve) => setTimeout(() => resolve('late'), 1500)))
      .route('STREAM', '/count', async function* ({query}) {
        for (let i = 0; i < Number(query.n); i++) yield {i}
      })
      .route('STREAM', '/breaks', async function* () {
        yield 'first'
        throw new Error('stream broke')
      })
      .route('STREAM', '/forever', async function* (req) {
        for (let i = 0; !req.signal.aborted; i++) {
          yield i
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
      })
    tunnel = await startHomeTunnel(dir(), node, router)
    gateway = tunnel.api
  })
  after(() => tunnel?.close())

  it('listTunnelNodes: the connected nodes, typed', async () => {
    const nodes = await listTunnelNodes({gateway, timeoutMs: 5000})
    assert.deepEqual(nodes.map((n) => n.id), [node])
    assert.match(nodes[0]!.fingerprint, /^SHA256:/)
    assert.ok(!Number.isNaN(Date.parse(nodes[0]!.connectedSince)))
    assert.equal(nodes[0]!.inFlight, 0)
  })

  it('callTunnelNode: status, JSON body and raw bytes, whatever the status; a dispatcher may be passed', async () => {
    const hello = await callTunnelNode({gateway, node, path: '/hello?name=ada', timeoutMs: 5000, verb: 'GET'})
    assert.deepEqual([hello.status, hello.body], [200, {hello: 'ada'}])
    assert.equal(hello.bytes.toString(), '{"hello":"ada"}')
    const dispatcher = new Agent()
    try {
      const created = await callTunnelNode({body: {name: 'ada'}, dispatcher, gateway, node, path: '/users', timeoutMs: 5000, verb: 'POST'})
      assert.deepEqual([created.status, created.body], [201, {name: 'ada'}])
    } finally {
      await dispatcher.close()
    }

    const missing = await callTunnelNode({gateway, node, path: '/missing', timeoutMs: 5000, verb: 'GET'})
    assert.deepEqual([missing.status, missing.body], [404, {error: 'no such user'}])
    const unknown = await callTunnelNode({gateway, node: 'absent', path: '/hello', timeoutMs: 5000, verb: 'GET'})
    assert.equal(unknown.status, 404)
  })

  it('openTunnelStream: the items as lines, then no stream error', async () => {
    const stream = await openTunnelStream({gateway, node, path: '/count?n=3', timeoutMs: 5000})
    assert.equal(stream.status, 200)
    const lines: string[] = []
    for await (const line of stream.lines()) lines.push(line)
    assert.deepEqual(lines.map((line) => JSON.parse(line) as unknown), [{i: 0}, {i: 1}, {i: 2}])
    assert.equal(stream.streamError(), undefined)
  })

  it('openTunnelStream: a stream that breaks mid-way has its error after the lines', async () => {
    const stream = await openTunnelStream({gateway, node, path: '/breaks', timeoutMs: 5000})
    const lines: string[] = []
    for await (const line of stream.lines()) lines.push(line)
    assert.equal(JSON.parse(lines[0]!), 'first')
    const streamError = stream.streamError()
    assert.equal(streamError?.status, 500)
    assert.match(String(streamError?.error), /stream broke/)
  })

  it('openTunnelStream: aborting the signal ends the lines without an error; another status is read whole', async () => {
    const controller = new AbortController()
    const stream = await openTunnelStream({gateway, node, path: '/forever', signal: controller.signal, timeoutMs: 5000})
    let count = 0
    for await (const line of stream.lines()) {
      assert.equal(JSON.parse(line), count)
      if (++count === 3) controller.abort()
    }

    assert.ok(count >= 3)
    assert.equal(stream.streamError(), undefined)
    const absent = await openTunnelStream({gateway, node: 'absent', path: '/count?n=1', timeoutMs: 5000})
    assert.equal(absent.status, 404)
    assert.match(JSON.stringify((await absent.read()).body), /absent/)
  })

  it('no answer within timeoutMs is RW_ERR_TIMEOUT', async () => {
    const error = await callTunnelNode({gateway, node, path: '/slow', timeoutMs: 200, verb: 'GET'}).catch((caught: unknown) => caught)
    assert.ok(error instanceof RestwireError)
    assert.equal(error.code, 'RW_ERR_TIMEOUT')
    assert.match(error.message, /within 200 ms/)
  })

  it('a gateway that is not there is RW_ERR_CONNECT with a hint', async () => {
    // Port 1 on loopback: nothing listens there.
    const error = await listTunnelNodes({gateway: 'http://127.0.0.1:1', timeoutMs: 5000}).catch((caught: unknown) => caught)
    assert.ok(error instanceof RestwireError)
    assert.equal(error.code, 'RW_ERR_CONNECT')
    assert.match(error.message, /connection refused/)
    assert.match(error.hint ?? '', /tunnel gateway/)
  })
})
