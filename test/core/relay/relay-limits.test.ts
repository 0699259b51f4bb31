// What one client may cost the relay and the others, against real relays on 127.0.0.1:0 and real local
// HTTP upstreams: fair slots between connections, a cap on requests held per connection, no new upstream
// requests for a client that does not read, the idle timeout, the connection cap; and credentials kept
// off a redirect to another origin.
import assert from 'node:assert/strict'
import type {Socket} from 'node:net'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {parseRelayAddress} from '../../../src/core/relay/address.js'
import {FairScheduler, SlotQueue} from '../../../src/core/relay/fair-scheduler.js'
import {MAX_PENDING_REQUESTS} from '../../../src/core/relay/limits.js'
import {RelayLineDecoder} from '../../../src/core/relay/line-decoder.js'
import {type RelayServer, startRelayServer} from '../../../src/core/relay/server.js'
import {closedWithin, hostileTcp, openSocket} from '../../helpers/hostile.js'
import {LineClient, type Upstream, relayConfig, startUpstream} from '../../helpers/relay-fixture.js'
import {waitFor} from '../../helpers/wait.js'

const TCP = parseRelayAddress('tcp://127.0.0.1:0', 'listen')
const portOf = (relay: RelayServer): number => relay.port!

describe('FairScheduler and the paused line decoder', () => {
  it('hands free slots to connections in turn, skips a blocked one, and keeps each connection in order', async () => {
    const scheduler = new FairScheduler(1)
    const greedy = new SlotQueue()
    const polite = new SlotQueue()
    const order: string[] = []
    assert.equal(scheduler.acquire(greedy), undefined, 'a free slot: no promise')
    const waits = [
      ...[1, 2, 3].map((n) => scheduler.acquire(greedy)!.then(() => order.push(`g${n}`))),
      scheduler.acquire(polite)!.then(() => order.push('p1')),
    ]
    // The greedy connection had its turn (the free slot): the polite one goes next, then greedy's in order.
    for (const holder of [greedy, polite, greedy, greedy]) {
      scheduler.release(holder)
      await Promise.resolve()
    }

    await Promise.all(waits)
    assert.deepEqual(order, ['p1', 'g1', 'g2', 'g3'])
    scheduler.release(greedy)
    scheduler.setBlocked(greedy, true)
    assert.ok(scheduler.acquire(greedy), 'a blocked connection waits even with a free slot')
    assert.equal(scheduler.acquire(polite), undefined)
    scheduler.release(polite)
    scheduler.setBlocked(greedy, false)
    assert.equal(scheduler.running, 1)
  })

  it('one connection runs at most its share at once; the rest of the slots stay for others', () => {
    const scheduler = new FairScheduler(4, 2)
    const greedy = new SlotQueue()
    const other = new SlotQueue()
    assert.equal(scheduler.acquire(greedy), undefined)
    assert.equal(scheduler.acquire(greedy), undefined)
    assert.ok(scheduler.acquire(greedy), 'the third waits')
    assert.equal(scheduler.acquire(other), undefined)
    assert.equal(scheduler.running, 3)
    scheduler.release(greedy)
    assert.equal(scheduler.running, 3, 'the waiting one took the freed place')
    assert.equal(greedy.active, 2)
  })

  it('pause() inside onLine holds the rest of the chunk; resume() decodes it in order', () => {
    const lines: string[] = []
    const decoder: RelayLineDecoder = new RelayLineDecoder({
      maxLineBytes: 100,
      onLine: (line) => {
        lines.push(line.toString())
        if (lines.length === 1) decoder.pause()
      },
      onOverlong: () => {},
    })
    decoder.push(Buffer.from('a\nb\nc'))
    decoder.push(Buffer.from('\nd\n'))
    assert.deepEqual(lines, ['a'])
    decoder.resume()
    assert.deepEqual(lines, ['a', 'b', 'c', 'd'])
  })
})

describe('relay: limits per connection and between connections', {timeout: 60_000}, () => {
  let upstream: Upstream
  let relay: RelayServer

  before(async () => {
    upstream = await startUpstream()
    const o = upstream.origin
    const config = relayConfig({
      max_concurrency: 2,
      requests: {
        blob: {method: 'GET', url: `${o}/blob/{kib}`},
        hang: {method: 'GET', timeout: 60, url: `${o}/hang`},
        hang_short: {method: 'GET', timeout: '1s', url: `${o}/hang`},
        slow: {method: 'GET', url: `${o}/slow/{ms}`},
        user: {method: 'GET', url: `${o}/user/{user_id}`},
      },
    })
    relay = await startRelayServer({config, idleTimeoutMs: 500, listen: TCP, maxConnections: 6})
  })

  after(async () => {
    await relay?.close({drainMs: 500})
    await upstream?.close()
  })

  const connect = (): Promise<LineClient> => LineClient.connect(parseRelayAddress(relay.address, 'listen'))

  it('a greedy client with 600 slow requests queued does not hold up another client (round robin)', async () => {
    const greedy = await connect()
    const polite = await connect()
    try {
      // 600 × 50 ms over 2 slots: 15 s of work, all queued before the polite client asks.
      greedy.send(Array.from({length: 600}, (_, i) => JSON.stringify({id: i, params: {ms: 50}, request: 'slow'})).join('\n') + '\n')
      await greedy.waitFor((r) => r.status === 'dispatched', 600)
      polite.send({id: 'p', params: {user_id: 1}, request: 'user'})
      assert.equal((await polite.final('p')).status, 'ok')
      // Counted, not timed: with round robin the polite request takes the next free slot, so only the few
      // greedy requests running or just finished are answered before it; first come first served would
      // answer all 600 first.
      const greedyDone = greedy.replies.filter((r) => r.status !== 'dispatched').length
      assert.ok(greedyDone <= 20, `${greedyDone} of the greedy client's 600 requests were answered before the polite one`)
    } finally {
      greedy.close()
      polite.close()
    }
  })

  it(`one connection holds at most ${MAX_PENDING_REQUESTS} unanswered requests: the rest wait unread`, async () => {
    const greedy = await connect()
    try {
      greedy.send(Array.from({length: MAX_PENDING_REQUESTS + 500}, (_, i) => JSON.stringify({id: i, request: 'hang'})).join('\n') + '\n')
      await greedy.waitFor((r) => r.status === 'dispatched', MAX_PENDING_REQUESTS)
      // The point: 300 ms more in which no further request of this client may be dispatched.
      await sleep(300)
      assert.equal(greedy.replies.filter((r) => r.status === 'dispatched').length, MAX_PENDING_REQUESTS)
      const other = await connect()
      other.send({id: 'o', params: {user_id: 2}, request: 'user'})
      // The 2 slots are taken by hanging requests; the other client's request waits its turn, then hangs too:
      // only its dispatch is asserted here (a slot frees when the greedy client goes).
      await other.waitFor((r) => r.status === 'dispatched')
      greedy.close()
      assert.equal((await other.final('o')).status, 'ok')
      other.close()
    } finally {
      greedy.close()
    }
  })

  it('a client that does not read: no new upstream requests start for it once its replies back up', async () => {
    const lazy = await connect()
    try {
      lazy.socket.pause()
      const seen = upstream.seen.length
      // 400 replies of 128 KiB (50 MiB): the relay must stop well before.
      lazy.send(Array.from({length: 400}, (_, i) => JSON.stringify({id: i, params: {kib: 128}, request: 'blob'})).join('\n') + '\n')
      // A count that holds still for 300 ms shows the relay stopped (the quiet window is the point), within 15 s.
      let previous = -1
      for (const until = Date.now() + 15_000; upstream.seen.length !== previous && Date.now() < until; ) {
        previous = upstream.seen.length
        await sleep(300)
      }

      const served = upstream.seen.length - seen
      assert.ok(served < 100, `upstream requests for the lazy client stop (${served} of 400 started)`)
      lazy.socket.resume()
      const finals = await lazy.waitFor((r) => r.status !== 'dispatched', 400)
      assert.ok(finals.every((r) => r.status === 'ok'))
    } finally {
      lazy.close()
    }
  })

  it('idle timeout: a silent connection and one trickling a line byte by byte are closed; a request in flight keeps one open', async () => {
    const silent = await hostileTcp({port: portOf(relay)}, 'silence')
    const trickle = await hostileTcp({port: portOf(relay)}, 'trickle', {bytes: Buffer.from('{"request": "user", "id": 1, "params": {"user_id": 1}}'.repeat(10)), intervalMs: 20})
    const busy = await connect()
    busy.send({id: 'b', request: 'hang_short'})
    assert.ok(await closedWithin(silent, 5000), 'silent connection closed')
    assert.ok(await closedWithin(trickle, 5000), 'trickling connection closed')
    // The hanging request (1 s) outlives the 500 ms idle timeout: its answer still arrives.
    const reply = await busy.final('b')
    assert.equal((reply.response as {code: string}).code, 'RW_ERR_TIMEOUT')
    assert.ok(await closedWithin(busy.socket, 5000), 'closed once idle after its answer')
  })

  it('connections over --max-connections are closed at once; a place that frees is taken again', async () => {
    const held: Socket[] = []
    try {
      for (let i = 0; i < 6; i++) held.push(await openSocket({port: portOf(relay)}))
      await waitFor(() => relay.connections === 6, 5000, 'the relay to hold 6 connections')
      const extra = await openSocket({port: portOf(relay)})
      assert.ok(await closedWithin(extra, 1000), 'the 7th connection is closed at once')
      held.shift()!.destroy()
      await waitFor(() => relay.connections < 6, 5000, 'the relay to free a place')
      const client = await connect()
      client.send({id: 'in', params: {user_id: 3}, request: 'user'})
      assert.equal((await client.final('in')).status, 'ok')
      client.close()
    } finally {
      for (const socket of held) socket.destroy()
    }
  })
})

describe('relay: a redirect to another origin carries no configured credentials', {timeout: 30_000}, () => {
  let first: Upstream
  let second: Upstream
  let relay: RelayServer
  let client: LineClient

  before(async () => {
    first = await startUpstream()
    second = await startUpstream()
    const config = relayConfig({
      requests: {
        hop: {
          auth: {token_env: 'TOKEN', type: 'bearer'},
          headers: {'X-Api-Key': {env: 'API_KEY'}, 'X-Client': 'relay-test'},
          method: 'GET',
          redirects: 2,
          url: `${first.origin}/goto?to={to}`,
        },
      },
    }, {API_KEY: 'key-secret-1', TOKEN: 'tok-secret-2'})
    relay = await startRelayServer({config, listen: TCP})
    client = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
  })

  after(async () => {
    client?.close()
    await relay?.close({drainMs: 500})
    await first?.close()
    await second?.close()
  })

  it('cross-origin: X-Api-Key, Authorization and every configured header are dropped; same origin: kept', async () => {
    client.send({id: 'x', params: {to: `${second.origin}/user/elsewhere`}, request: 'hop'})
    assert.equal((await client.final('x')).status, 'ok')
    const there = second.seen.at(-1)!.headers
    assert.equal(there['x-api-key'], undefined)
    assert.equal(there.authorization, undefined)
    assert.equal(there['x-client'], undefined)
    assert.equal(first.seen.at(-1)!.headers['x-api-key'], 'key-secret-1', 'the first hop had it')
    client.send({id: 's', params: {to: `${first.origin}/user/here`}, request: 'hop'})
    assert.equal((await client.final('s')).status, 'ok')
    const here = first.seen.at(-1)!
    assert.equal(here.url, '/user/here')
    assert.equal(here.headers['x-api-key'], 'key-secret-1')
    assert.equal(here.headers.authorization, 'Bearer tok-secret-2')
  })
})
