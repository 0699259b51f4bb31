// The pipe under attack: a real `pipe serve` process (and a real node where a hostile hub applies) faced
// with hostile TCP and TLS peers, certified nodes that flood or never read, deep JSON and SIGKILL, each
// with a healthy node beside it that must see every event answered. Malformed and over-limit frames
// from a certified node are in test/core/pipe/faults.test.ts (closed with a reason, others unaffected);
// the decoder's header checks byte by byte in test/core/pipe/frames.test.ts.
import assert from 'node:assert/strict'
import {type Server, type Socket, createServer as createTcpServer} from 'node:net'
import {type TLSSocket, connect as tlsConnect, createServer as createTlsServer} from 'node:tls'
import {setTimeout as sleep} from 'node:timers/promises'
import {after, before, describe, it} from 'node:test'
import {FrameType, encodeFrame, encodeJsonFrame} from '../../src/core/pipe/frames.js'
import {PIPE_PROTOCOL_VERSION, encodeEventMeta} from '../../src/core/pipe/messages.js'
import type {PipeNodeHandle} from '../../src/core/pipe/node.js'
import {type PipeProcess, startPipeProcess} from '../helpers/pipe-cli.js'
import {startTestNode} from '../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../helpers/pipe-pki.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {GROWTH_LIMIT_BYTES, type HealthyReport, MIB, closedWithin, deepJsonText, floodConnectionsAtOnce, healthyClient, hostileTcp, openSocket, peerAddresses, reasonsLogged, watchRss} from '../helpers/hostile.js'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {request as httpRequest} from 'node:http'
import {skipWithout} from '../helpers/tools.js'
import {waitFor} from '../helpers/wait.js'

const T = {timeoutMs: 10_000}
const HELLO = encodeJsonFrame(FrameType.HELLO, 0, 0, {heartbeatMs: 5000, role: 'node', version: PIPE_PROTOCOL_VERSION})

/** A TLS client with a valid node certificate that reads nothing unless told. */
async function certifiedSocket(pki: PipePki, port: number, name: string): Promise<TLSSocket> {
  const identity = await pki.identity(name)
  const socket = tlsConnect({ca: identity.ca, cert: identity.cert, host: '127.0.0.1', key: identity.key, port, servername: 'hub'})
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve())
    socket.once('close', () => reject(new Error('closed before the handshake')))
  })
  return socket
}

/** Writes `frame` over and over for `ms`, respecting the socket's own backpressure; never reads. */
async function flood(socket: Socket, frame: Buffer, ms: number): Promise<number> {
  const batch = Buffer.concat(Array.from({length: Math.ceil(16_384 / frame.length)}, () => frame))
  const until = Date.now() + ms
  let sent = 0
  while (Date.now() < until && !socket.destroyed) {
    sent += batch.length
    if (!socket.write(batch)) {
      await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), sleep(100)])
    }
  }
  return sent
}

function assertHealthy(report: HealthyReport, what: string): void {
  assert.deepEqual(report.failed, [], `${what}: the healthy node saw failures`)
  assert.ok(report.answered > 0, `${what}: the healthy node got no answer`)
  // A liveness bound (5 s, healthyClient's default), not a speed figure.
  assert.equal(report.late, 0, `${what}: ${report.late} answers took longer than 5 s (slowest ${Math.round(report.slowestMs)} ms)`)
}

/** An HTTP request to a gateway that sends `body` (if any) and never reads the reply. */
function neverReadingHttp(url: string, method: string, body?: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(url, {headers: body ? {'content-length': String(body.length)} : {}, method})
    req.on('error', () => {})
    req.on('response', (res) => {
      res.pause()
      res.on('error', () => {})
      resolve()
    })
    req.end(body)
    setTimeout(resolve, 5000).unref()
  })
}

/** The hub's handlers for the attacks: values no JSON writer can take. */
const HUB_HANDLERS = `
export function get_deep() { let value = 1; for (let i = 0; i < 100000; i++) value = [value]; return value }
export function get_bigint() { return {n: 10n} }
export function get_circular() { const value = {}; value.self = value; return value }
export function get_kib() { return 'x'.repeat(16000) }
export function get_deepthrow() { let value = 1; for (let i = 0; i < 100000; i++) value = [value]; throw value }
`

describe('pipe: adversarial peers against a real pipe serve', {skip: skipWithout('openssl'), timeout: 120_000}, () => {
  const dir = useTempDir('restwire-pipe-adversarial-')
  let pki: PipePki
  let hub: PipeProcess
  let port: number
  let http: string
  let healthy: PipeNodeHandle

  before(async () => {
    pki = await makePipePki(dir())
    await Promise.all(['flood-1', 'flood-2', 'deep', 'quiet', 'killed'].map((name) => pki.addNode(name)))
    const handlers = join(dir(), 'hub-handlers.mjs')
    await writeFile(handlers, HUB_HANDLERS)
    hub = await startPipeProcess(
      ['serve', '--ca', pki.dir, '--listen', '0', '--http', '127.0.0.1:0', '--heartbeat', '1s', '--login-grace', '2s', '--max-startups', '20', '--handlers', handlers],
      /"event":"listening"/,
    )
    const listening = await hub.waitForLog(/"event":"listening"/)
    port = listening.port as number
    http = listening.http as string
    ;({node: healthy} = await startTestNode(pki, port, {heartbeatMs: 1000}))
    await healthy.connected()
    await hub.waitForLog(/"node":"node-a"/)
  })
  after(async () => {
    await healthy?.close()
    await hub?.stop('SIGKILL')
  })

  /** The healthy node beside an attack: events to the hub, answered each time. */
  const beside = (): {stop(): Promise<HealthyReport>} =>
    healthyClient(async () => {
      const reply = await healthy.request({args: ['a', 'b'], noun: 'cat', verb: 'GET'}, T)
      assert.equal(reply.code, 0)
      await reply.read()
    })

  it('a certified node that floods PINGs and never reads: hub memory bounded, others served', async () => {
    const socket = await certifiedSocket(pki, port, 'flood-1')
    socket.pause()
    socket.write(HELLO)
    const rss = watchRss(hub.child.pid!)
    const side = beside()
    const sent = await flood(socket, encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)), 4000)
    const {baseline, peak} = rss.stop()
    assertHealthy(await side.stop(), 'PING flood')
    socket.destroy()
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `hub grew by ${((peak - baseline) / MIB).toFixed(0)} MiB (sent ${(sent / MIB).toFixed(0)} MiB of PINGs)`)
  })

  it('a certified node that floods EVENTs and never reads the replies: hub memory bounded, others served', async () => {
    const socket = await certifiedSocket(pki, port, 'flood-2')
    socket.pause()
    socket.write(HELLO)
    const rss = watchRss(hub.child.pid!)
    const side = beside()
    // Each 20-byte EVENT asks for a 16 KB reply: without backpressure the replies pile up 800 times faster
    // than the flood arrives.
    let id = 0
    const batch = (): Buffer => Buffer.concat(Array.from({length: 256}, () => encodeFrame(FrameType.EVENT, 1, (id += 2), encodeEventMeta({args: [], noun: 'kib', verb: 'GET'}))))
    const until = Date.now() + 4000
    while (Date.now() < until && !socket.destroyed) {
      if (!socket.write(batch())) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), sleep(100)])
    }

    const {baseline, peak} = rss.stop()
    assertHealthy(await side.stop(), 'EVENT flood')
    socket.destroy()
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `hub grew by ${((peak - baseline) / MIB).toFixed(0)} MiB`)
  })

  it('hostile TCP (reset, garbage, silence, trickle): each closed, silent ones within the login grace, others served', async () => {
    const side = beside()
    const reset = await hostileTcp({port}, 'reset')
    const garbage = await hostileTcp({port}, 'garbage')
    const silent = await hostileTcp({port}, 'silence')
    // A TLS ClientHello's first bytes, one every 100 ms: never a whole handshake within the grace.
    const trickle = await hostileTcp({port}, 'trickle', {bytes: Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, ...Array(64).fill(7)]), intervalMs: 100})
    const closed = await Promise.all([reset, garbage, silent, trickle].map((socket) => closedWithin(socket, 4000)))
    assert.deepEqual(closed, [true, true, true, true])
    assertHealthy(await side.stop(), 'hostile TCP')
    assert.equal(hub.child.exitCode, null)
  })

  it('TLS without a certificate, and a certified node that never says HELLO: both closed, others served', async () => {
    const side = beside()
    const identity = await pki.identity('hub')
    const anonymous = tlsConnect({ca: identity.ca, host: '127.0.0.1', port, servername: 'hub'})
    anonymous.on('error', () => {})
    const quiet = await certifiedSocket(pki, port, 'quiet')
    const [anonymousClosed, quietClosed] = await Promise.all([closedWithin(anonymous as unknown as Socket, 4000), closedWithin(quiet, 4000)])
    assert.ok(anonymousClosed, 'a TLS client without a certificate stayed connected')
    assert.ok(quietClosed, 'a certified node without a HELLO outlived the login grace')
    assertHealthy(await side.stop(), 'no certificate / no HELLO')
  })

  it('TLS then garbage, and a HELLO or GOAWAY with 100,000-deep JSON: that connection closed, the hub stays up', async () => {
    const side = beside()
    const garbage = await certifiedSocket(pki, port, 'deep')
    garbage.write(HELLO)
    garbage.write(Buffer.from('\u0000\u00ff'.repeat(1000)))
    assert.ok(await closedWithin(garbage, 4000))
    // The payload is capped at 64 KiB: 32,000 levels, enough to overflow String() of an array.
    const deepHello = await certifiedSocket(pki, port, 'deep')
    deepHello.write(encodeFrame(FrameType.HELLO, 0, 0, Buffer.from(`{"version":${deepJsonText(32_000)}}`)))
    assert.ok(await closedWithin(deepHello, 4000))
    const deepGoaway = await certifiedSocket(pki, port, 'deep')
    deepGoaway.write(HELLO)
    deepGoaway.write(encodeFrame(FrameType.GOAWAY, 0, 0, Buffer.from(`{"reason":${deepJsonText(32_000)}}`)))
    deepGoaway.write(encodeFrame(FrameType.RESET, 0, 2, Buffer.from(`{"code":400,"reason":${deepJsonText(32_000, 'object')}}`)))
    assert.ok(await closedWithin(deepGoaway, 4000))
    assertHealthy(await side.stop(), 'garbage frames / deep JSON frames')
    assert.equal(hub.child.exitCode, null)
  })

  it('handlers that return deep, BigInt or circular values, or throw a deep value: 251 for that event, the connection stays', async () => {
    const side = beside()
    for (const noun of ['deep', 'bigint', 'circular', 'deepthrow']) {
      const reply = await healthy.request({args: [], noun, verb: 'GET'}, T)
      const body = (await reply.read()).toString()
      assert.equal(reply.code, 251, `${noun}: ${body}`)
      assert.match(body, noun === 'deepthrow' ? /raised/ : /cannot be written as JSON/)
    }

    assert.ok(healthy.isConnected())
    assertHealthy(await side.stop(), 'unserialisable replies')
  })

  it('a flood of connections: the excess over --max-startups refused at once, all closed within the grace, others served', async () => {
    const rss = watchRss(hub.child.pid!)
    const side = beside()
    // Only what is logged from now on: an earlier test's connection may have had one of these ports.
    const from = hub.stderr.length
    const sockets = await floodConnectionsAtOnce({port}, 200)
    const flood = peerAddresses(sockets)
    assert.deepEqual(await Promise.all(sockets.map((socket) => closedWithin(socket, 4000))), sockets.map(() => true))
    // Refused at once means refused for the cap, not left to the grace: the hub's log says which, one line
    // per connection (the flood arrives in one burst, so exactly 20 are admitted and wait out the grace).
    const reasons = await waitFor(() => {
      const counted = reasonsLogged(hub.stderr.slice(from), 'node rejected', flood)
      return [...counted.values()].reduce((sum, count) => sum + count, 0) >= sockets.length && counted
    }, 4000, 'a log line for every flood connection')
    assert.deepEqual(Object.fromEntries(reasons), {
      'more than 20 connections without a HELLO yet': sockets.length - 20,
      'no TLS handshake and HELLO within 2000 ms': 20,
    })
    const {baseline, peak} = rss.stop()
    assertHealthy(await side.stop(), 'connection flood')
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `hub grew by ${((peak - baseline) / MIB).toFixed(0)} MiB`)
    // The gate frees its places: a new node still gets in.
    const late = await certifiedSocket(pki, port, 'quiet')
    late.destroy()
  })

  it('a node killed with SIGKILL: the hub drops it and serves the others', async () => {
    const side = beside()
    const from = hub.stderr.length
    const victim = await startPipeProcess(['connect', '--to', `127.0.0.1:${port}`, '--hub-name', 'hub', '--ca', pki.dir, '--name', 'killed', '--http', '127.0.0.1:0', '--heartbeat', '1s'], /"event":"connected"/)
    await hub.waitForLine(/"event":"node connected".*"node":"killed"|"node":"killed".*"event":"node connected"/, from)
    await victim.stop('SIGKILL')
    await hub.waitForLine(/"event":"node disconnected".*"node":"killed"|"node":"killed".*"event":"node disconnected"/, from)
    assertHealthy(await side.stop(), 'node killed')
    const nodes = (await (await fetch(`${http}/nodes`)).json()) as Array<{name: string}>
    assert.deepEqual(nodes.map((node) => node.name), ['node-a'])
  })

  it('gateway clients that never read their replies, or trickle their headers: hub memory bounded, others served', async () => {
    const rss = watchRss(hub.child.pid!)
    const side = beside()
    const slowloris = await openSocket({port: Number(new URL(http).port)})
    slowloris.write('GET /nodes HTTP/1.1\r\nHost: x\r\n')
    const drip = setInterval(() => slowloris.write('X-A: b\r\n'), 100)
    await Promise.all([
      ...Array.from({length: 4}, () => neverReadingHttp(`${http}/client/node-a/big//48`, 'GET')),
      ...Array.from({length: 4}, () => neverReadingHttp(`${http}/client/node-a/echo`, 'POST', Buffer.alloc(8 * MIB, 1))),
    ])
    // The attack itself: 2 s of trickled headers and unread replies while the memory is watched.
    await sleep(2000)
    clearInterval(drip)
    slowloris.destroy()
    const {baseline, peak} = rss.stop()
    assertHealthy(await side.stop(), 'never-reading gateway clients')
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `hub grew by ${((peak - baseline) / MIB).toFixed(0)} MiB`)
  })
})

describe('pipe: a hostile hub against a node', {skip: skipWithout('openssl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-pipe-hostile-hub-')
  let pki: PipePki
  const servers: Server[] = []

  before(async () => {
    pki = await makePipePki(dir())
  })
  after(async () => {
    for (const server of servers) server.close()
  })

  /** A fake hub on 127.0.0.1:0 that does `onSocket` with every accepted connection. */
  const fakeHub = async (make: () => Server): Promise<number> => {
    const server = make()
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return (server.address() as {port: number}).port
  }

  /** A node against `port`; resolves once it has given up on one attempt and dialled again. */
  const redials = async (port: number): Promise<string> => {
    const {log, node} = await startTestNode(pki, port, {handshakeTimeoutMs: 500})
    try {
      const gone = await log.next((event) => event.type === 'disconnected')
      await log.next((event) => event.type === 'connecting' && event.attempt === 2)
      return gone.type === 'disconnected' ? gone.reason : ''
    } finally {
      await node.close()
    }
  }

  it('a hub that accepts TCP and never speaks: the node times out the handshake and redials', async () => {
    const held: Socket[] = []
    const port = await fakeHub(() => createTcpServer((socket) => held.push(socket.on('error', () => {}))))
    assert.match(await redials(port), /no TLS handshake and HELLO from 127\.0\.0\.1:\d+ within 500 ms/)
    for (const socket of held) socket.destroy()
  })

  it('a hub that answers with garbage: the node reports the TLS failure and redials', async () => {
    const port = await fakeHub(() => createTcpServer((socket) => socket.on('error', () => {}).end('HTTP/1.1 400 Bad Request\r\n\r\n\u0000\u00ff')))
    assert.match(await redials(port), /TLS with 127\.0\.0\.1:\d+ failed/)
  })

  it('a hub that completes TLS and never sends its HELLO: the node redials', async () => {
    const identity = await pki.identity('hub')
    const port = await fakeHub(() => createTlsServer({ca: identity.ca, cert: identity.cert, key: identity.key, requestCert: true}, (socket) => socket.on('error', () => {})))
    assert.match(await redials(port), /no TLS handshake and HELLO/)
  })

  it('a hub that floods PINGs and never reads: `pipe connect` memory bounded, its gateway still answers', async () => {
    const identity = await pki.identity('hub')
    let flooding: Promise<number> | undefined
    const port = await fakeHub(() =>
      createTlsServer({ca: identity.ca, cert: identity.cert, key: identity.key, requestCert: true}, (socket) => {
        socket.on('error', () => {})
        socket.pause()
        socket.write(encodeJsonFrame(FrameType.HELLO, 0, 0, {heartbeatMs: 5000, role: 'hub', version: PIPE_PROTOCOL_VERSION}))
        flooding ??= flood(socket, encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)), 4000).finally(() => socket.destroy())
      }),
    )
    const node = await startPipeProcess(['connect', '--to', `127.0.0.1:${port}`, '--hub-name', 'hub', '--ca', pki.dir, '--name', 'node-a', '--http', '127.0.0.1:0', '--max-backoff', '1s'], /"event":"connected"/)
    try {
      const gatewayUrl = (await node.waitForLog(/"event":"started"/)).http as string
      const rss = watchRss(node.child.pid!)
      const side = healthyClient(async () => {
        const response = await fetch(`${gatewayUrl}/nowhere`)
        assert.equal(response.status, 404)
        await response.arrayBuffer()
      })
      await waitFor(() => flooding, 10_000, 'the fake hub to start its PING flood')
      await flooding
      const {baseline, peak} = rss.stop()
      assertHealthy(await side.stop(), 'hub PING flood')
      assert.equal(node.child.exitCode, null)
      assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `node grew by ${((peak - baseline) / MIB).toFixed(0)} MiB`)
    } finally {
      await node.stop('SIGKILL')
    }
  })
})
