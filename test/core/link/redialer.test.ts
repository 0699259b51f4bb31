import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {Redialer, type RedialEvent, type RedialerOptions} from '../../../src/core/link/redialer.js'
import type {DialedSession, LinkEnd} from '../../../src/core/link/session.js'
import {FakeClock, settle} from '../../helpers/fake-clock.js'

/** A connection that does what the test says: finish the handshake, end, answer a close or not. */
class FakeSession implements DialedSession {
  readonly ready: Promise<void>
  readonly closed: Promise<LinkEnd>
  readonly closeReasons: string[] = []
  destroyed = false
  finishHandshake!: () => void
  private ended = false
  private resolveClosed!: (end: LinkEnd) => void

  constructor(private readonly answersClose = true) {
    this.ready = new Promise((resolve) => (this.finishHandshake = resolve))
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve))
  }

  end(end: LinkEnd = {}): void {
    if (this.ended) return
    this.ended = true
    this.resolveClosed(end)
  }

  close(reason: string): void {
    this.closeReasons.push(reason)
    if (this.answersClose) this.end()
  }

  destroy(reason?: string): void {
    this.destroyed = true
    this.end({reason})
  }
}

/** A dial the test settles: each call pushes one pending dial. */
function harness(overrides: Partial<RedialerOptions<FakeSession, string>> = {}) {
  const clock = new FakeClock()
  const events: Array<RedialEvent<string>> = []
  const dials: Array<{target: string; attempt: number; signal: AbortSignal; resolve(session: FakeSession): void; reject(error: Error): void}> = []
  const redialer = new Redialer<FakeSession, string>({
    backoff: {initialMs: 100, maxMs: 1000},
    clock,
    closedReason: (stopped) => (stopped ? 'node closed' : 'the peer closed the connection'),
    dial: (target, attempt, signal) => new Promise((resolve, reject) => dials.push({attempt, reject, resolve, signal, target})),
    dialFailed: (error) => ({code: 'ECONNREFUSED', reason: `cannot connect: ${(error as Error).message}`}),
    handshakeTimeoutMs: 5000,
    handshakeTimeoutReason: () => 'no handshake within 5000 ms',
    onEvent: (event) => events.push(event),
    random: () => 1,
    stopReason: 'shutting down',
    targets: ['hub'],
    ...overrides,
  })
  /** Resolves the latest dial with a new session. */
  const connect = async (session = new FakeSession()): Promise<FakeSession> => {
    dials.at(-1)!.resolve(session)
    await settle()
    return session
  }

  return {clock, connect, dials, events, redialer}
}

const types = (events: Array<RedialEvent<unknown>>): string[] => events.map((event) => event.type)

describe('Redialer', () => {
  it('dials, and after a failed dial waits the backoff (doubling, with jitter) before the next', async () => {
    const {clock, dials, events, redialer} = harness()
    await settle()
    assert.equal(dials.length, 1)
    dials[0]!.reject(new Error('refused'))
    await settle()
    assert.deepEqual(events, [
      {attempt: 1, target: 'hub', type: 'connecting'},
      {code: 'ECONNREFUSED', reason: 'cannot connect: refused', type: 'disconnected'},
      {attempt: 1, code: 'ECONNREFUSED', delayMs: 100, type: 'retrying'},
    ])
    await clock.tick(99)
    assert.equal(dials.length, 1, 'no dial before the delay is over')
    await clock.tick(1)
    assert.equal(dials.length, 2)
    assert.equal(dials[1]!.attempt, 2)
    dials[1]!.reject(new Error('refused'))
    await settle()
    assert.deepEqual(events.at(-1), {attempt: 2, code: 'ECONNREFUSED', delayMs: 200, type: 'retrying'})
    await redialer.stop()
  })

  it('draws the jitter from random(): half the delay fixed, half random', async () => {
    const {dials, events, redialer} = harness({random: () => 0})
    await settle()
    dials[0]!.reject(new Error('refused'))
    await settle()
    assert.deepEqual(events.at(-1), {attempt: 1, code: 'ECONNREFUSED', delayMs: 50, type: 'retrying'})
    await redialer.stop()
  })

  it('starts the backoff over after a connection that stayed up STABLE_CONNECTION_MS', async () => {
    const {clock, connect, dials, events, redialer} = harness({stableMs: 10_000})
    await settle()
    dials[0]!.reject(new Error('refused'))
    await clock.tick(100)
    dials[1]!.reject(new Error('refused'))
    await clock.tick(200)
    const session = await connect()
    session.finishHandshake()
    await clock.tick(10_000)
    session.end()
    await settle()
    assert.deepEqual(events.slice(-2), [
      {code: undefined, reason: 'the peer closed the connection', type: 'disconnected'},
      {attempt: 1, code: undefined, delayMs: 100, type: 'retrying'},
    ])
    await redialer.stop()
  })

  it('keeps counting attempts after a connection that ended early', async () => {
    const {clock, connect, events, redialer} = harness({stableMs: 10_000})
    await settle()
    const session = await connect()
    await clock.tick(9999)
    session.end({reason: 'reset'})
    await clock.tick(100)
    const again = await connect()
    again.end({reason: 'reset'})
    await settle()
    assert.deepEqual(events.at(-1), {attempt: 2, code: undefined, delayMs: 200, type: 'retrying'})
    await redialer.stop()
  })

  it('destroys a connection whose handshake is not done within handshakeTimeoutMs, then redials', async () => {
    const {clock, connect, dials, events, redialer} = harness()
    await settle()
    const session = await connect()
    await clock.tick(4999)
    assert.equal(session.destroyed, false)
    await clock.tick(1)
    assert.equal(session.destroyed, true)
    assert.deepEqual(events.slice(1, 3), [
      {code: undefined, reason: 'no handshake within 5000 ms', type: 'disconnected'},
      {attempt: 1, code: undefined, delayMs: 100, type: 'retrying'},
    ])
    await clock.tick(100)
    assert.equal(dials.length, 2)
    await redialer.stop()
  })

  it('leaves a connection whose handshake finished in time alone', async () => {
    const {clock, connect, redialer} = harness()
    await settle()
    const session = await connect()
    session.finishHandshake()
    await clock.tick(60_000)
    assert.equal(session.destroyed, false)
    assert.equal(redialer.current, session)
    await redialer.stop()
    assert.deepEqual(session.closeReasons, ['shutting down'])
  })

  it('stop during a dial aborts it; a session the dial still returns is destroyed', async () => {
    const {clock, dials, events, redialer} = harness()
    await settle()
    const stopped = redialer.stop()
    assert.equal(dials[0]!.signal.aborted, true)
    const late = new FakeSession()
    dials[0]!.resolve(late)
    await stopped
    await settle()
    assert.equal(late.destroyed, true)
    assert.deepEqual(types(events), ['connecting', 'disconnected'])
    assert.deepEqual(events[1], {code: undefined, reason: 'node closed', type: 'disconnected'})
    await clock.tick(60_000)
    assert.equal(dials.length, 1, 'no dial after stop')
  })

  it('stop during a dial that then fails reports the stop, not the failure', async () => {
    const {dials, events, redialer} = harness()
    await settle()
    const stopped = redialer.stop()
    dials[0]!.reject(new Error('aborted'))
    await stopped
    assert.deepEqual(events.at(-1), {code: undefined, reason: 'node closed', type: 'disconnected'})
  })

  it('stop during the backoff ends at once, without waiting for the delay', async () => {
    const {clock, dials, events, redialer} = harness({backoff: {initialMs: 30_000, maxMs: 30_000}})
    await settle()
    dials[0]!.reject(new Error('refused'))
    await settle()
    assert.equal(events.at(-1)!.type, 'retrying')
    await redialer.stop()
    assert.equal(clock.now(), 0, 'no time passed')
    assert.equal(clock.pending, 0, 'the backoff timer is cancelled')
    assert.equal(dials.length, 1)
  })

  it('wakeNow during the backoff dials at once; outside a backoff it does nothing', async () => {
    const {clock, dials, redialer} = harness({backoff: {initialMs: 30_000, maxMs: 30_000}})
    await settle()
    redialer.wakeNow()
    await settle()
    assert.equal(dials.length, 1, 'no second dial while one is under way')
    dials[0]!.reject(new Error('refused'))
    await settle()
    redialer.wakeNow()
    await settle()
    assert.equal(dials.length, 2)
    assert.equal(dials[1]!.attempt, 2)
    assert.equal(clock.now(), 0)
    await redialer.stop()
  })

  it('stop closes the connection and destroys it when the peer does not answer within the grace', async () => {
    const {clock, connect, events, redialer} = harness({closeGraceMs: 1000})
    await settle()
    const session = await connect(new FakeSession(false))
    session.finishHandshake()
    let stopped = false
    const stopping = redialer.stop().then(() => (stopped = true))
    await clock.tick(999)
    assert.deepEqual(session.closeReasons, ['shutting down'])
    assert.equal(session.destroyed, false)
    assert.equal(stopped, false)
    await clock.tick(1)
    await stopping
    assert.equal(session.destroyed, true)
    assert.deepEqual(events.at(-1), {code: undefined, reason: 'node closed', type: 'disconnected'})
    assert.equal(redialer.isStopped, true)
    assert.equal(redialer.stop(), redialer.stop(), 'safe twice')
  })

  it('once: stops after the first connection ends', async () => {
    const {clock, connect, dials, redialer} = harness({once: true})
    await settle()
    const session = await connect()
    session.end({reason: 'bye'})
    await redialer.done
    await clock.tick(60_000)
    assert.equal(dials.length, 1)
    assert.equal(redialer.isStopped, true)
  })

  it('reports the errno of a connection that ended with one', async () => {
    const {connect, events, redialer} = harness()
    await settle()
    const session = await connect()
    session.end({code: 'ENOTFOUND', reason: 'cannot resolve hub'})
    await settle()
    assert.deepEqual(events.slice(-2), [
      {code: 'ENOTFOUND', reason: 'cannot resolve hub', type: 'disconnected'},
      {attempt: 1, code: 'ENOTFOUND', delayMs: 100, type: 'retrying'},
    ])
    await redialer.stop()
  })

  describe('several targets', () => {
    const dialled = (dials: Array<{target: string}>): string[] => dials.map((dial) => dial.target)

    it('starts at the target random() picks', async () => {
      for (const [value, first] of [[0, 'a'], [0.5, 'b'], [0.99, 'c']] as const) {
        const {dials, redialer} = harness({random: () => value, targets: ['a', 'b', 'c']})
        await settle()
        assert.deepEqual(dialled(dials), [first])
        await redialer.stop()
      }
    })

    it('dials the next at once when a dial fails, and backs off only after a full round, wrapping around', async () => {
      const {clock, dials, events, redialer} = harness({random: () => 0.5, targets: ['a', 'b', 'c']})
      await settle()
      dials[0]!.reject(new Error('refused'))
      await settle()
      dials[1]!.reject(new Error('refused'))
      await settle()
      assert.deepEqual(dialled(dials), ['b', 'c', 'a'], 'next, then wrap around')
      assert.equal(clock.now(), 0, 'no wait inside a round')
      assert.ok(!types(events).includes('retrying'))
      dials[2]!.reject(new Error('refused'))
      await settle()
      // random() 0.5: the first round's ceiling 100 ms gives 50 + 25.
      assert.deepEqual(events.at(-1), {attempt: 3, code: 'ECONNREFUSED', delayMs: 75, type: 'retrying'})
      await clock.tick(74)
      assert.equal(dials.length, 3, 'no dial before the backoff is over')
      await clock.tick(1)
      assert.deepEqual(dialled(dials), ['b', 'c', 'a', 'b'], 'the next round starts where the last one did')
      dials[3]!.reject(new Error('refused'))
      await settle()
      dials[4]!.reject(new Error('refused'))
      await settle()
      dials[5]!.reject(new Error('refused'))
      await settle()
      assert.deepEqual(events.at(-1), {attempt: 6, code: 'ECONNREFUSED', delayMs: 150, type: 'retrying'}, 'the second round doubles the backoff')
      await redialer.stop()
    })

    it('moves to the next target at once when the connected one goes away, and says which it dials', async () => {
      const {clock, connect, dials, events, redialer} = harness({random: () => 0, stableMs: 10_000, targets: ['a', 'b']})
      await settle()
      const first = await connect()
      first.finishHandshake()
      assert.equal(redialer.currentTarget, 'a')
      await clock.tick(60_000)
      first.end({reason: 'the hub closed the connection'})
      await settle()
      assert.deepEqual(dialled(dials), ['a', 'b'])
      assert.deepEqual(events.slice(-2), [
        {reason: 'the hub closed the connection', code: undefined, type: 'disconnected'},
        {attempt: 2, target: 'b', type: 'connecting'},
      ])
      assert.equal(redialer.currentTarget, undefined)
      const second = await connect()
      second.finishHandshake()
      assert.equal(redialer.currentTarget, 'b')
      await clock.tick(60_000)
      second.end()
      await settle()
      assert.deepEqual(dialled(dials), ['a', 'b', 'a'], 'and back, wrapping around')
      assert.equal(clock.now(), 120_000, 'no backoff between')
      await redialer.stop()
    })

    it('counts a connection that ended early as one try of the round', async () => {
      const {clock, connect, dials, events, redialer} = harness({random: () => 0, stableMs: 10_000, targets: ['a', 'b']})
      await settle()
      const early = await connect()
      await clock.tick(1000)
      early.end({reason: 'reset'})
      await settle()
      assert.deepEqual(dialled(dials), ['a', 'b'])
      dials[1]!.reject(new Error('refused'))
      await settle()
      assert.deepEqual(events.at(-1), {attempt: 2, code: 'ECONNREFUSED', delayMs: 50, type: 'retrying'})
      await redialer.stop()
    })

    it('once: tries each target until one finishes its handshake, and stops when that connection ends', async () => {
      const {connect, dials, redialer} = harness({once: true, random: () => 0, targets: ['a', 'b', 'c']})
      await settle()
      dials[0]!.reject(new Error('refused'))
      await settle()
      const rejected = await connect()
      rejected.end({reason: 'authentication failed'})
      await settle()
      const served = await connect()
      served.finishHandshake()
      await settle()
      served.end()
      await redialer.done
      assert.deepEqual(dialled(dials), ['a', 'b', 'c'])
      assert.equal(redialer.isStopped, true)
    })

    it('once: stops after a round with no handshake, without a backoff', async () => {
      const {clock, dials, events, redialer} = harness({once: true, random: () => 0, targets: ['a', 'b']})
      await settle()
      dials[0]!.reject(new Error('refused'))
      await settle()
      dials[1]!.reject(new Error('refused'))
      await redialer.done
      assert.deepEqual(dialled(dials), ['a', 'b'])
      assert.ok(!types(events).includes('retrying'))
      assert.equal(clock.pending, 0)
    })

    it('refuses an empty list of targets', () => {
      assert.throws(() => harness({targets: []}), /at least one target/)
    })
  })
})
