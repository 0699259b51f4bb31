// The tunnel under attack: `restwire tunnel gateway` and `restwire tunnel expose` as real CLI processes,
// against hostile TCP peers, hostile nodes, hostile HTTP API clients and hostile gateways, each with a
// healthy node and HTTP client beside it, and memory checked for the never-read and flood cases.
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import type {Socket} from 'node:net'
import {join} from 'node:path'
import {after, afterEach, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {encodeGzipMember} from '../../src/core/framing/gzip-member.js'
import {ensureServerIdentity, localPaths} from '../../src/core/home.js'
import {Router} from '../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../src/core/ssh/authorized-keys.js'
import {loadPrivateKey} from '../../src/core/ssh/private-key.js'
import {type TunnelNodeHandle, exposeNode, startTunnelGateway} from '../../src/core/tunnel/index.js'
import {type CliProcess, spawnCli} from '../helpers/cli.js'
import {
  GROWTH_LIMIT_BYTES,
  MIB,
  type HealthyReport,
  closedWithin,
  deepJsonText,
  floodConnections,
  floodConnectionsAtOnce,
  healthyClient,
  hostileServer,
  hostileTcp,
  hostileTcpRound,
  openSocket,
  peerAddresses,
  reasonsLogged,
  watchRss,
} from '../helpers/hostile.js'
import {scrape} from '../helpers/scrape.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {startExpose} from '../helpers/tunnel-expose.js'
import {makeNodeHostKey, startHostileNode, startRawGateway} from '../helpers/tunnel-fixture.js'
import {waitFor, waitForEvent} from '../helpers/wait.js'

const GRACE_MS = 1500
/** 48 KiB of incompressible text: a stream item or answer that gzip cannot shrink to nothing. */
const CHUNK = randomBytes(36 * 1024).toString('base64')
/** The node's firehose route: what it has yielded (characters), and its generators started and ended. */
const firehose = {bytes: 0, ended: 0, started: 0}

function assertHealthy(report: HealthyReport, what: string): void {
  assert.deepEqual(report.failed, [], `${what}: the healthy client failed`)
  assert.ok(report.answered > 0, `${what}: the healthy client was answered`)
}

function assertAlive(cli: CliProcess, what: string): void {
  assert.equal(cli.child.exitCode, null, `${what}: the process exited:\n${cli.stderr.slice(-20).join('\n')}`)
}

/** An HTTP request written by hand on a raw socket that is never read from. */
async function neverReadingHttp(port: number, path: string, accept = 'application/x-ndjson'): Promise<Socket> {
  const socket = await openSocket({port})
  socket.pause()
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAccept: ${accept}\r\n\r\n`)
  return socket
}

describe('adversarial: tunnel gateway (CLI process)', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-adv-tunnel-')
  let gateway: CliProcess
  let port: number
  let http: string
  let node: TunnelNodeHandle
  let home: string
  const cleanup: Array<() => unknown> = []
  /** Healthy clients still running: a failed assertion must not leave one looping for ever. */
  const running = new Set<() => Promise<HealthyReport>>()
  const healthy = (lateMs?: number): ReturnType<typeof healthyClient> => {
    const client = healthyClient(async () => {
      const response = await fetch(`${http}/nodes/healthy/hello`)
      assert.equal(response.status, 200)
      assert.deepEqual(await response.json(), {hello: 'healthy'})
    }, lateMs)
    const stop = (): Promise<HealthyReport> => {
      running.delete(stop)
      return client.stop()
    }

    running.add(stop)
    return {stop}
  }

  afterEach(async () => {
    for (const stop of [...running]) await stop()
  })

  before(async () => {
    home = join(dir(), 'home')
    gateway = spawnCli(
      ['tunnel', 'gateway', '--listen', '0', '--http', '127.0.0.1:0', '--log-format', 'json', '--accept-new', '--login-grace', `${GRACE_MS}ms`, '--max-startups', '20', '--max-http-connections', '400', '--timeout', '10s'],
      {RESTWIRE_HOME: home},
    )
    const listening = await gateway.waitForLog(/"event":"listening"/)
    port = listening.port as number
    http = listening.http as string
    const hostKey = await makeNodeHostKey(dir(), 'healthy_host_key')
    const authorizedKeys = await AuthorizedKeysFile.open(join(home, 'authorized_keys'))
    cleanup.push(() => authorizedKeys.close())
    node = exposeNode({
      authorizedKeys,
      backoff: {initialMs: 50, maxMs: 200},
      hostKeys: [{privateKey: hostKey.key.privateKey}],
      nodeId: 'healthy',
      router: new Router()
        .route('GET', '/hello', () => ({hello: 'healthy'}))
        .route('POST', '/echo', (req) => ({got: req.body}))
        .route('STREAM', '/firehose', async function* () {
          firehose.started++
          try {
            for (;;) {
              firehose.bytes += CHUNK.length
              yield CHUNK
            }
          } finally {
            firehose.ended++
          }
        }),
      to: {host: '127.0.0.1', port},
    })
    cleanup.push(() => node.close())
    await gateway.waitForLog(/"event":"node connected".*"node":"healthy"/)
  })
  after(async () => {
    for (const close of cleanup.reverse()) await close()
    await gateway?.stop('SIGKILL')
  })

  it('hostile TCP of every kind (reset, garbage, silence, trickle, half-SSH): the process lives, lingerers are closed within the grace', async () => {
    const client = healthy()
    const target = {port}
    for (const kind of ['reset', 'garbage'] as const) for (let i = 0; i < 5; i++) await hostileTcp(target, kind)
    const lingering = await Promise.all((['silence', 'trickle', 'half-ssh'] as const).map((kind) => hostileTcp(target, kind, {intervalMs: 200})))
    await hostileTcpRound(target, 3)
    const closed = await Promise.all(lingering.map((socket) => closedWithin(socket, GRACE_MS + 3000)))
    assert.deepEqual(closed, [true, true, true], 'silence, trickle and half-SSH closed within the login grace')
    assertHealthy(await client.stop(), 'hostile TCP')
    assertAlive(gateway, 'hostile TCP')
    assert.ok(gateway.stderr.some((line) => line.includes('"event":"node refused"') && line.includes('login-grace')))
  })

  it('a flood of 300 silent connections: the excess over --max-startups is closed at once, memory stays bounded', async () => {
    const rss = watchRss(gateway.child.pid!)
    const client = healthy()
    // Only what is logged from now on: an earlier test's connection may have had one of these ports.
    const from = gateway.stderr.length
    const sockets = await floodConnectionsAtOnce({port}, 300)
    const flood = peerAddresses(sockets)
    const all = await Promise.all(sockets.map((socket) => closedWithin(socket, GRACE_MS + 3000)))
    assert.ok(all.every(Boolean), 'every flood connection closed within the grace')
    // Closed at once means refused for the cap, not left to the grace: the log says which, per connection
    // (the flood arrives in one burst, so exactly 20 are admitted and wait out the grace).
    const reasons = await waitFor(() => {
      const counted = reasonsLogged(gateway.stderr.slice(from), 'node refused', flood)
      return [...counted.values()].reduce((sum, count) => sum + count, 0) >= sockets.length && counted
    }, 4000, 'a log line for every flood connection')
    assert.deepEqual(Object.fromEntries(reasons), {
      'not registered within --login-grace': 20,
      'too many connections still in the handshake (--max-startups)': sockets.length - 20,
    })
    assertHealthy(await client.stop(), 'flood')
    const {baseline, peak} = rss.stop()
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `grew ${peak - baseline} bytes`)
    assertAlive(gateway, 'flood')
  })

  it('hostile nodes (invalid status, deep JSON, corrupt and oversized frames) fail their own requests only', async () => {
    const client = healthy()
    const hostKey = await makeNodeHostKey(dir(), 'hostile_host_key')
    const hostile = startHostileNode(port, hostKey.key, 'hostile', (request, reply) => {
      const head = `{"id":"h-${request.id}","request_id":${JSON.stringify(request.id)},`
      if (request.router === '/string-status') reply(`${head}"ssh_response_code":"200","response":1}`)
      else if (request.router === '/deep') reply(`${head}"ssh_response_code":200,"response":${deepJsonText(100_000)}}`)
      else if (request.router === '/deep-item') reply(`${head}"ssh_response_code":200,"response":${deepJsonText(100_000, 'object')}}`)
      else reply(`${head}"ssh_response_code":200,"response":{"ok":true}}`)
    })
    cleanup.push(() => hostile.close())
    await gateway.waitForLog(/"event":"node connected".*"node":"hostile"/)
    // 502, not the 504 of --timeout: answered when the bad status arrived.
    assert.equal((await fetch(`${http}/nodes/hostile/string-status`)).status, 502)
    assert.equal((await fetch(`${http}/nodes/hostile/deep`)).status, 502)
    const stream = await (await fetch(`${http}/nodes/hostile/deep-item`, {headers: {accept: 'application/x-ndjson'}})).text()
    assert.match(stream, /RW_ERR_JSON/)
    assert.equal((await fetch(`${http}/nodes/hostile/ok`)).status, 200)

    // Frames the gateway cannot read (not gzip; a gzip bomb over the 16 MiB limit) drop that node alone.
    const corrupt = startHostileNode(port, hostKey.key, 'corrupt', (_request, reply) => reply(Buffer.from('this is not gzip at all')))
    const bomb = startHostileNode(port, hostKey.key, 'bomb', (_request, reply) => reply(encodeGzipMember(Buffer.alloc(17 * 1024 * 1024, 0x20))))
    cleanup.push(() => corrupt.close(), () => bomb.close())
    await gateway.waitForLog(/"event":"node connected".*"node":"corrupt"/)
    await gateway.waitForLog(/"event":"node connected".*"node":"bomb"/)
    for (const id of ['corrupt', 'bomb']) {
      const answer = await fetch(`${http}/nodes/${id}/anything`)
      assert.ok([502, 503].includes(answer.status), `${id} answer: ${answer.status}`)
      await gateway.waitForLog(new RegExp(`"event":"node disconnected".*"node":"${id}"`))
    }

    assert.equal((await fetch(`${http}/nodes/hostile/ok`)).status, 200)
    assertHealthy(await client.stop(), 'hostile nodes')
    assertAlive(gateway, 'hostile nodes')
  })

  it('a node that never reads its requests: POSTs to it fail with 503 instead of piling up in the gateway', async () => {
    const hostKey = await makeNodeHostKey(dir(), 'deaf_host_key')
    const deaf = startHostileNode(port, hostKey.key, 'deaf', () => {}, {neverRead: true})
    cleanup.push(() => deaf.close())
    await gateway.waitForLog(/"event":"node connected".*"node":"deaf"/)
    const client = healthy()
    const body = JSON.stringify({blob: randomBytes(72 * 1024).toString('base64')})
    const statuses: number[] = []
    /** `count` POSTs of 96 KiB of incompressible JSON, ten at a time, each caller giving up after 0.2 s. */
    const flood = async (count: number): Promise<void> => {
      let next = 0
      const worker = async (): Promise<void> => {
        while (next++ < count) {
          await fetch(`${http}/nodes/deaf/upload`, {body, method: 'POST', signal: AbortSignal.timeout(200)}).then(
            async (response) => {
              statuses.push(response.status)
              await response.arrayBuffer()
            },
            () => {},
          )
        }
      }

      await Promise.all(Array.from({length: 10}, worker))
    }

    // The first round fills what the gateway may queue for the node (16 MiB); the second sends 2400 more.
    // Piling up would keep what is sent. What the gateway may keep is that queue, plus what the garbage
    // collector has not yet given back of the flood's garbage (V8's heap and malloc sizing follow the
    // allocation rate and the machine's load, not the bytes sent: 100-160 MiB in all, 4-77 MiB over the
    // second round, measured): so each bound is a fraction of the bytes sent, which a gateway that kept
    // them would pass.
    const total = watchRss(gateway.child.pid!)
    await flood(600)
    const second = watchRss(gateway.child.pid!)
    await flood(2400)
    const {baseline, peak} = second.stop()
    const overall = total.stop()
    const sentSecond = 2400 * Buffer.byteLength(body)
    const sentAll = 3000 * Buffer.byteLength(body)
    const refused = statuses.filter((status) => status === 503).length
    const mib = (bytes: number): string => `${(bytes / MIB).toFixed(0)} MiB`
    console.log(`# deaf node: ${refused} of ${statuses.length} answers 503; gateway RSS +${mib(overall.peak - overall.baseline)} of ${mib(sentAll)} sent, +${mib(peak - baseline)} of ${mib(sentSecond)} over the second round`)
    assert.ok(refused >= 1500, `${refused} of ${statuses.length} answers were an immediate 503`)
    assert.ok(peak - baseline < sentSecond / 2, `grew ${mib(peak - baseline)} over the second round, which sent ${mib(sentSecond)}`)
    assert.ok(overall.peak - overall.baseline < sentAll * 0.75, `grew ${mib(overall.peak - overall.baseline)} in all, of ${mib(sentAll)} sent`)
    assertHealthy(await client.stop(), 'a node that never reads')
    assertAlive(gateway, 'a node that never reads')
  })

  it('HTTP API: deep JSON bodies, garbage and resets on the HTTP port get clean answers', async () => {
    const client = healthy()
    const deep = await fetch(`${http}/nodes/healthy/echo`, {body: deepJsonText(100_000), headers: {'content-type': 'application/json'}, method: 'POST'})
    assert.equal(deep.status, 400)
    assert.equal(((await deep.json()) as {code: string}).code, 'RW_ERR_JSON')
    const deepObject = await fetch(`${http}/nodes/healthy/echo`, {body: deepJsonText(100_000, 'object'), method: 'POST'})
    assert.equal(deepObject.status, 400)
    const httpPort = Number(new URL(http).port)
    await hostileTcpRound({port: httpPort}, 3)
    // A request line cut by a reset mid-body.
    const cut = await openSocket({port: httpPort})
    // Expect: 100-continue makes the gateway say when it has the headers and waits for the body.
    cut.write('POST /nodes/healthy/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n')
    await waitForEvent(cut, 'data', 5000)
    cut.write('{"a":')
    cut.resetAndDestroy()
    assertHealthy(await client.stop(), 'HTTP API hostile input')
    assertAlive(gateway, 'HTTP API hostile input')
  })

  it('HTTP clients that open a firehose STREAM and never read: memory stays bounded, others are served', async () => {
    const rss = watchRss(gateway.child.pid!)
    // The node's one channel is paused while their items wait; a stalled reader loses its stream after
    // 1 s, so the healthy client is held up about that long, never for the whole attack (a liveness bound).
    const client = healthy(4000)
    const [started, ended, sentBefore] = [firehose.started, firehose.ended, firehose.bytes]
    const readers = await Promise.all(Array.from({length: 8}, () => neverReadingHttp(Number(new URL(http).port), '/nodes/healthy/firehose')))
    // Bounded: each reader's socket buffers fill, its items wait, the channel pauses, and a reader that
    // takes nothing for 1 s while it is paused loses its stream: the node is told to stop. A gateway that
    // kept what the node sent would never stop it. Counted, not timed: how long the buffers take to fill
    // follows the machine's load (93-98 MiB in the first 3 s on a quiet machine, 67 in CI's).
    await waitFor(() => firehose.started - started === 8 && firehose.ended - ended === 8, 60_000, 'the gateway to cancel all 8 never-read streams')
    const sent = firehose.bytes - sentBefore
    // ...and stopped: with the readers still connected and never reading, nothing restarts the node.
    await sleep(500)
    assert.equal(firehose.bytes - sentBefore, sent, 'the node sent more after its streams were cancelled')
    const report = await client.stop()
    const {baseline, peak} = rss.stop()
    for (const socket of readers) socket.destroy()
    assertHealthy(report, 'never-read streams')
    assert.equal(report.late, 0, `answers slower than 4 s: ${report.late} (slowest ${Math.round(report.slowestMs)} ms)`)
    // What passes through is garbage the gateway's RSS follows V8's and malloc's sizing for: 105-165 MiB
    // measured for the ~100 MiB sent, the most when this test runs first. Holding what an unthrottled
    // node sends would be hundreds of MiB more.
    const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`
    assert.ok(peak - baseline < 2 * GROWTH_LIMIT_BYTES, `grew ${mib(peak - baseline)} while ${mib(sent)} passed through`)
    assertAlive(gateway, 'never-read streams')
  })

  it('a flood of idle HTTP connections: memory bounded, over --max-http-connections closed on accept and counted in the log', async () => {
    const rss = watchRss(gateway.child.pid!)
    const httpPort = Number(new URL(http).port)
    const idle = await floodConnections({port: httpPort}, 300)
    const client = healthy()
    // The attack itself: the healthy client runs for 500 ms beside the 300 idle connections.
    await sleep(500)
    assertHealthy(await client.stop(), 'idle HTTP flood')
    const from = gateway.stderr.length
    const over = await floodConnections({port: httpPort}, 150)
    // Counted, not timed: 300 idle, the healthy client's and these 150 make at least 50 over the cap of
    // 400, and the gateway logs each connection it closed on accept (the first at once, the rest within
    // its 10 s period). Once they are logged, they are closed on this side too.
    const logged = (): number =>
      gateway.stderr.slice(from).reduce((sum, line) => {
        const event = /"event":"http connections refused"/.test(line) ? (JSON.parse(line) as {reason: string; refused: number}) : undefined
        if (event) assert.equal(event.reason, '400 HTTP API connections open (--max-http-connections)')
        return sum + (event?.refused ?? 0)
      }, 0)
    const refused = await waitFor(() => logged() >= 50 && logged(), 15_000, 'at least 50 connections logged as refused')
    const closed = await Promise.all(over.map((socket) => closedWithin(socket, 3000)))
    assert.ok(closed.filter(Boolean).length >= refused, `${closed.filter(Boolean).length} closed, ${refused} logged as refused`)
    for (const socket of [...idle, ...over]) socket.destroy()
    const {baseline, peak} = rss.stop()
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `grew ${peak - baseline} bytes`)
    assertAlive(gateway, 'idle HTTP flood')
    // The same refusals on /metrics, once the gateway has seen the flood's sockets go and has room again.
    const capRefusals = await waitFor(async () => {
      const value = await scrape(http).then((metrics) => metrics.value('restwire_connections_refused_total', {reason: 'cap'}), () => -1)
      return value >= refused && value
    }, 10_000, '/metrics to count the refused connections')
    assert.ok(capRefusals >= refused)
  })

  it('a node killed with SIGKILL mid-stream: its stream ends, the gateway lives and serves the others', async () => {
    const client = healthy()
    const victim = startExpose(['--to', `127.0.0.1:${port}`, '--demo', '--node-id', 'victim'], {RESTWIRE_HOME: home})
    cleanup.push(() => victim.stop('SIGKILL'))
    await gateway.waitForLog(/"event":"node connected".*"node":"victim"/)
    const response = await fetch(`${http}/nodes/victim/stream?interval_ms=20&n=100000`, {headers: {accept: 'application/x-ndjson'}})
    const reader = response.body!.getReader()
    await reader.read()
    await victim.stop('SIGKILL')
    let text = ''
    for (;;) {
      const {done, value} = await reader.read()
      if (done) break
      text += Buffer.from(value).toString()
    }

    assert.match(text, /"code":"RW_ERR_CLOSED"/)
    assert.equal((await fetch(`${http}/nodes/victim/home`)).status, 404)
    assertHealthy(await client.stop(), 'SIGKILLed node')
    assertAlive(gateway, 'SIGKILLed node')
  })
})

describe('adversarial: tunnel expose against hostile gateways (CLI process)', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-adv-expose-')
  const cleanup: Array<() => unknown> = []
  let env: Record<string, string>
  let home: string
  after(async () => {
    for (const close of cleanup.reverse()) await close()
  })
  before(async () => {
    home = join(dir(), 'home')
    env = {RESTWIRE_HOME: home}
    await ensureServerIdentity(localPaths(home))
  })

  it('silence, garbage and resets: the node drops each after its handshake timeout, redials, and reaches a real gateway', async () => {
    let server = await hostileServer('silence')
    const {port} = server
    const node = startExpose(['--to', `127.0.0.1:${port}`, '--demo', '--node-id', 'dialler', '--handshake-timeout', '500ms', '--max-backoff', '200ms'], env)
    cleanup.push(() => node.stop('SIGKILL'))
    for (const next of ['garbage', 'reset'] as const) {
      await waitFor(() => server.accepted() >= 2, 10_000, `the node to dial the ${next === 'garbage' ? 'silent' : 'garbage'} gateway twice`).catch(() => {})
      assert.ok(server.accepted() >= 2, `the node redialled the ${next === 'garbage' ? 'silent' : 'garbage'} gateway`)
      await server.close()
      server = await hostileServer(next, port)
    }

    await waitFor(() => server.accepted() >= 2, 10_000, 'the node to dial the resetting gateway twice').catch(() => {})
    assert.ok(server.accepted() >= 2, 'the node redialled the resetting gateway')
    assert.ok(node.stderr.some((line) => /"event":"disconnected".*handshake/.test(line)), 'a silent gateway was dropped after the handshake timeout')
    await server.close()
    const gateway = await startTunnelGateway({acceptNew: true, identities: [await loadPrivateKey(localPaths(home).clientKey)], knownNodesPath: join(dir(), 'known_nodes'), port})
    cleanup.push(() => gateway.close())
    await gateway.waitForNode('dialler', 10_000)
    assert.deepEqual((await gateway.request('dialler', 'GET', '/home')).body, {home: 'router'})
    assertAlive(node, 'hostile gateways')
  })

  it('a gateway that never reads: the node stops reading its requests, memory stays bounded', async () => {
    const routes = join(dir(), 'big.mjs')
    await writeFile(routes, `const chunk = ${JSON.stringify(CHUNK.repeat(4))}\nexport default {'GET /big': () => ({chunk})}\n`)
    const raw = await startRawGateway(await loadPrivateKey(localPaths(home).clientKey))
    cleanup.push(() => raw.close())
    const node = startExpose(['--to', `127.0.0.1:${raw.port}`, '--routes', routes, '--node-id', 'flooded'], env)
    cleanup.push(() => node.stop('SIGKILL'))
    const tunnel = await raw.tunnel
    await node.waitForLog(/"event":"connected"/)
    const request = (id: string, type: string, router: string | null): Buffer =>
      encodeGzipMember(JSON.stringify({data: null, id, kwargs: {}, params: null, request_type: type, router}))
    tunnel.channel.write(request('identify', 'IDENTIFY', null))
    await tunnel.waitFor(1)
    const rss = watchRss(node.child.pid!)
    tunnel.channel.pause()
    // 3000 answers of 192 KiB would be over 500 MiB if the node kept reading and answering.
    for (let i = 0; i < 3000; i++) tunnel.channel.write(request(`r${i}`, 'GET', '/big'))
    // The attack itself: the gateway reads nothing for 4 s while the node's memory is watched.
    await sleep(4000)
    const {baseline, peak} = rss.stop()
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `grew ${peak - baseline} bytes`)
    assertAlive(node, 'never-reading gateway')
    // Reading again drains it: the node was stalled, not broken.
    tunnel.channel.resume()
    await waitFor(() => tunnel.responses.length >= 200, 20_000, '200 answers after resuming').catch(() => {})
    raw.close()
    assert.ok(tunnel.responses.length >= 200, `answers after resuming: ${tunnel.responses.length}`)
  })
})
