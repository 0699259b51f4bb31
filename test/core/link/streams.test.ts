import assert from 'node:assert/strict'
import {EventEmitter} from 'node:events'
import {describe, it} from 'node:test'
import {drained, endWithin, settleWithin} from '../../../src/core/link/streams.js'
import {Waiters} from '../../../src/core/link/waiters.js'
import {FakeClock} from '../../helpers/fake-clock.js'

/** Enough of a writable stream for the helpers: events, end() and destroy(). */
class FakeStream extends EventEmitter {
  destroyed = false
  ended: unknown = 'no'

  end(chunk?: unknown): void {
    this.ended = chunk
  }

  destroy(): void {
    this.destroyed = true
    this.emit('close')
  }
}

describe('drained', () => {
  it("resolves true on 'drain' and leaves no listener behind", async () => {
    const stream = new FakeStream()
    const clock = new FakeClock()
    const waiting = drained(stream, {clock, timeoutMs: 1000})
    stream.emit('drain')
    assert.equal(await waiting, true)
    assert.equal(stream.listenerCount('drain') + stream.listenerCount('close'), 0)
    assert.equal(clock.pending, 0)
  })

  it("resolves true on 'close'", async () => {
    const stream = new FakeStream()
    const waiting = drained(stream)
    stream.destroy()
    assert.equal(await waiting, true)
  })

  it('resolves false after timeoutMs', async () => {
    const stream = new FakeStream()
    const clock = new FakeClock()
    let result: boolean | undefined
    void drained(stream, {clock, timeoutMs: 1000}).then((value) => (result = value))
    await clock.tick(999)
    assert.equal(result, undefined)
    await clock.tick(1)
    assert.equal(result, false)
    assert.equal(stream.listenerCount('drain'), 0)
  })
})

describe('settleWithin', () => {
  it('true when the work settles first (a rejection too), false when the time runs out first', async () => {
    const clock = new FakeClock()
    assert.equal(await settleWithin(Promise.resolve(), 10, clock), true)
    assert.equal(await settleWithin(Promise.reject(new Error('x')), 10, clock), true)
    let result: boolean | undefined
    void settleWithin(new Promise(() => {}), 10, clock).then((value) => (result = value))
    await clock.tick(10)
    assert.equal(result, false)
  })
})

describe('endWithin', () => {
  it('ends with the last frame and destroys the stream if it is not closed within the grace', async () => {
    const clock = new FakeClock()
    const stream = new FakeStream()
    const last = Buffer.from('bye')
    endWithin(stream, 1000, {clock, last})
    assert.equal(stream.ended, last)
    await clock.tick(999)
    assert.equal(stream.destroyed, false)
    await clock.tick(1)
    assert.equal(stream.destroyed, true)
  })

  it('does not destroy a stream that closed by itself', async () => {
    const clock = new FakeClock()
    const stream = new FakeStream()
    endWithin(stream, 1000, {clock})
    stream.emit('close')
    assert.equal(clock.pending, 0)
  })
})

describe('Waiters', () => {
  it('wake releases every waiter with the value; a timed-out waiter gets undefined and is forgotten', async () => {
    const clock = new FakeClock()
    const waiters = new Waiters<string>(clock)
    const early = waiters.wait(100)
    const late = waiters.wait()
    await clock.tick(100)
    assert.equal(await early, undefined)
    assert.equal(waiters.size, 1)
    waiters.wake('up')
    assert.equal(await late, 'up')
    assert.equal(waiters.size, 0)
  })
})
