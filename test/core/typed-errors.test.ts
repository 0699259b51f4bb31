// A library caller branching on the typed errors against real servers: korv over SSH, the tunnel, the
// pipe over mutual TLS. Each case is one failure a caller handles differently: a status, a timeout,
// a peer gone mid-request, bytes that are no frame.
import assert from 'node:assert/strict'
import {connect as tlsConnect} from 'node:tls'
import {after, before, describe, it} from 'node:test'
import ssh2 from 'ssh2'
import {FrameCorruptError, PeerGoneError, RestwireError, StatusError, TimeoutError} from '../../src/core/errors.js'
import {KorvClient} from '../../src/core/korv/client.js'
import {startPipeGateway} from '../../src/core/pipe/gateway.js'
import type {PipeHubEvent, PipeHubHandle} from '../../src/core/pipe/hub.js'
import {loadPrivateKey} from '../../src/core/ssh/private-key.js'
import {AuthorizedKeysFile, Router, exposeNode, startTunnelGateway} from '../../src/core/tunnel/index.js'
import {type KorvKeys, makeKorvKeys, startKorv} from '../helpers/korv-fixture.js'
import {type EventLog, startTestHub, startTestNode} from '../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../helpers/pipe-pki.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {makeTunnelKeys, trustNode} from '../helpers/tunnel-fixture.js'
import {skipWithout} from '../helpers/tools.js'

/** How a caller sorts failures: by class, reading the typed fields. */
function classify(error: unknown): string {
  if (error instanceof StatusError) return `status ${error.status}`
  if (error instanceof TimeoutError) return `timeout${error.status ? ` ${error.status}` : ''}`
  if (error instanceof PeerGoneError) return `peer gone${error.status ? ` ${error.status}` : ''}`
  if (error instanceof FrameCorruptError) return 'frame corrupt'
  if (error instanceof RestwireError) return error.code
  return 'other'
}

const outcome = (pending: Promise<unknown>): Promise<unknown> => pending.then(() => assert.fail('it answered'), (error: unknown) => error)

describe('typed errors: korv over real SSH', {timeout: 30_000}, () => {
  const dir = useTempDir('restwire-typed-korv-')
  let keys: KorvKeys

  before(async () => {
    keys = await makeKorvKeys(dir())
  })

  it('a request with no answer in time is a TimeoutError carrying its bound', async (t) => {
    const korv = await startKorv(keys, {}, (server) => server.router.route('GET', '/hang', () => new Promise(() => {})))
    t.after(() => korv.handle.close({drainMs: 0}))
    const client = await korv.connect()
    t.after(() => client.close())
    const error = await outcome(client.request('GET', '/hang', null, {timeoutMs: 100}))
    assert.equal(classify(error), 'timeout')
    assert.equal((error as TimeoutError).timeoutMs, 100)
    assert.match((error as Error).message, /^no response to GET \/hang within 100 ms$/)
  })

  it('a server that closes with the request in flight is a PeerGoneError', async (t) => {
    let arrived: () => void = () => {}
    const inHandler = new Promise<void>((resolve) => (arrived = resolve))
    const korv = await startKorv(keys, {}, (server) =>
      server.router.route('GET', '/hang', () => {
        arrived()
        return new Promise(() => {})
      }),
    )
    const client = await korv.connect()
    t.after(() => client.close())
    const pending = outcome(client.request('GET', '/hang', null, {timeoutMs: 20_000}))
    await inHandler
    await korv.handle.close({drainMs: 0})
    const error = await pending
    assert.equal(classify(error), 'peer gone')
    assert.equal((error as PeerGoneError).exitCode, 3)
  })

  it('a server sending bytes that are no gzip member fails the pending request with a FrameCorruptError', async (t) => {
    const hostKey = await loadPrivateKey(keys.hostKeyPath)
    // Speaks SSH and opens the channel, then answers the first request with garbage.
    const server = new ssh2.Server({hostKeys: [hostKey.privateKey]}, (client) => {
      client.on('error', () => {})
      client.on('authentication', (ctx) => ctx.accept())
      client.on('ready', () =>
        client.on('tcpip', (accept) => {
          const channel = accept()
          channel.on('error', () => {})
          channel.once('data', () => channel.write(Buffer.from('HTTP/1.1 200 OK\r\n\r\nnot korv')))
        }),
      )
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    const client = await KorvClient.connect({hostKeyPolicy: 'accept-new', identities: [keys.clientKey], knownHostsPath: keys.knownHostsPath, port: (server.address() as {port: number}).port})
    t.after(async () => {
      await client.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })
    const error = await outcome(client.request('GET', '/x', null, {timeoutMs: 10_000}))
    assert.equal(classify(error), 'frame corrupt')
    assert.match((error as Error).message, /^server sent an unreadable stream: not a gzip member/)
    assert.equal((error as FrameCorruptError).exitCode, 11)
  })
})

describe('typed errors: the tunnel gateway over real SSH', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-typed-tunnel-')

  it('a node 4xx is a StatusError with the body; no answer in time is a TimeoutError 504; a node that goes is a PeerGoneError', async (t) => {
    const keys = await makeTunnelKeys(dir())
    await trustNode(keys.knownNodesPath, 'typed-node', keys.nodeHostPublicKey)
    let arrived: () => void = () => {}
    const inHandler = new Promise<void>((resolve) => (arrived = resolve))
    const router = new Router()
      .route('GET', '/teapot', () => [418, {error: 'short and stout'}])
      .route('GET', '/hang', () => new Promise(() => {}))
      .route('GET', '/held', () => {
        arrived()
        return new Promise(() => {})
      })
    const gateway = await startTunnelGateway({identities: [keys.gatewayKey], knownNodesPath: keys.knownNodesPath, port: 0, timeoutMs: 20_000})
    t.after(() => gateway.close())
    const node = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      nodeId: 'typed-node',
      router,
      to: {host: '127.0.0.1', port: gateway.address.port},
    })
    t.after(() => node.close())
    await gateway.waitForNode('typed-node', 20_000)

    const teapot = await outcome(gateway.request('typed-node', 'GET', '/teapot'))
    assert.equal(classify(teapot), 'status 418')
    assert.deepEqual((teapot as StatusError).body, {error: 'short and stout'})
    assert.equal((teapot as StatusError).code, 'RW_ERR_REMOTE_4XX')

    const slow = await outcome(gateway.request('typed-node', 'GET', '/hang', {timeoutMs: 100}))
    assert.equal(classify(slow), 'timeout 504')
    assert.equal((slow as TimeoutError).timeoutMs, 100)

    const held = outcome(gateway.request('typed-node', 'GET', '/held'))
    await inHandler
    await node.close()
    assert.equal(classify(await held), 'peer gone')
  })
})

describe('typed errors: the pipe over mutual TLS', {skip: skipWithout('openssl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-typed-pipe-')
  let pki: PipePki
  let hub: PipeHubHandle
  let hubLog: EventLog<PipeHubEvent>
  const T = {timeoutMs: 10_000}

  before(async () => {
    pki = await makePipePki(dir())
    ;({hub, log: hubLog} = await startTestHub(pki, {awaitNodeMs: 200}))
  })
  after(async () => {
    await hub?.close()
  })

  it('a node that is away is a PeerGoneError with status 503, which the gateway answers as before', async (t) => {
    const {node} = await startTestNode(pki, hub.address.port)
    await hub.waitForNode('node-a')
    await node.close()
    const away = await outcome(hub.request('node-a', {args: [], noun: 'time', verb: 'GET'}, T))
    assert.equal(classify(away), 'peer gone 503')
    assert.match((away as Error).message, /^node "node-a" is not connected$/)

    const gateway = await startPipeGateway({hub, kind: 'hub'}, {port: 0, timeoutMs: 2000})
    t.after(() => gateway.close())
    const response = await fetch(`${gateway.url}/client/node-a/time`)
    assert.equal(response.status, 503)
    assert.deepEqual(await response.json(), {code: 'RW_ERR_CLOSED', error: 'node "node-a" is not connected'})

    const unknown = await outcome(hub.request('nobody', {args: [], noun: 'time', verb: 'GET'}, T))
    assert.equal(classify(unknown), 'RW_ERR_NODE_UNKNOWN')
    assert.equal((unknown as RestwireError).status, 404)
  })

  it('an event with no reply in time is a TimeoutError with status 504', async (t) => {
    const {node} = await startTestNode(pki, hub.address.port)
    t.after(() => node.close())
    await hub.waitForNode('node-a')
    const error = await outcome(hub.request('node-a', {args: [], noun: 'hang', verb: 'GET'}, {timeoutMs: 150}))
    assert.equal(classify(error), 'timeout 504')
  })

  it('a peer sending bytes that are no frame is dropped for RW_ERR_PROTOCOL caused by a FrameCorruptError', async () => {
    const identity = await pki.identity('node-b')
    const socket = tlsConnect({ca: identity.ca, cert: identity.cert, host: '127.0.0.1', key: identity.key, port: hub.address.port, servername: 'hub'})
    socket.on('error', () => {})
    // Read what the hub sends (its GOAWAY), or the socket never sees the end and never closes.
    socket.resume()
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()))
    const from = hubLog.events.length
    await hub.waitForNode('node-b')
    socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: hub\r\n\r\n'))
    const gone = await hubLog.next((event) => event.type === 'node-disconnected' && event.node === 'node-b', from)
    const error = gone.type === 'node-disconnected' ? gone.error : undefined
    assert.equal(error?.code, 'RW_ERR_PROTOCOL')
    assert.ok(error?.cause instanceof FrameCorruptError, String(error?.cause))
    assert.match(error.cause.message, /unknown frame type 0x47/)
    await closed
  })
})
