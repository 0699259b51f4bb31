// ReplyDeadlines on a fake clock: one timer for all events of a session.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {type Deadline, ReplyDeadlines} from '../../../src/core/pipe/reply-deadlines.js'
import {FakeClock} from '../../helpers/fake-clock.js'

interface Item extends Deadline {
  name: string
}

const item = (name: string): Item => ({deadline: 0, name, timeoutMs: 0})

function setUp(): {clock: FakeClock; deadlines: ReplyDeadlines<Item>; expired: string[]} {
  const clock = new FakeClock()
  const expired: string[] = []
  return {clock, deadlines: new ReplyDeadlines<Item>((expiring) => expired.push(`${expiring.name}@${clock.now()}`), clock), expired}
}

describe('pipe reply deadlines', () => {
  it('expires each item at its deadline, in order, on one timer', () => {
    const {clock, deadlines, expired} = setUp()
    deadlines.add(item('a'), 1000)
    clock.advance(200)
    deadlines.add(item('b'), 1000)
    deadlines.add(item('c'), 300)
    assert.equal(clock.pending, 1)
    clock.advance(299)
    assert.deepEqual(expired, [])
    clock.advance(1)
    assert.deepEqual(expired, ['c@500'])
    clock.advance(2000)
    assert.deepEqual(expired, ['c@500', 'a@1000', 'b@1200'])
    assert.equal(clock.pending, 0)
  })

  it('refresh() counts the timeout again from now; the timer re-arms when it finds the item not yet due', () => {
    const {clock, deadlines, expired} = setUp()
    const a = item('a')
    deadlines.add(a, 1000)
    clock.advance(900)
    deadlines.refresh(a)
    clock.advance(999)
    assert.deepEqual(expired, [])
    clock.advance(1)
    assert.deepEqual(expired, ['a@1900'])
    deadlines.refresh(a)
    clock.advance(5000)
    assert.deepEqual(expired, ['a@1900'], 'refresh of an item no longer pending does nothing')
  })

  it('delete() keeps an item from expiring; the armed timer fires once, finds nothing, and stops', () => {
    const {clock, deadlines, expired} = setUp()
    const a = item('a')
    deadlines.add(a, 1000)
    deadlines.delete(a)
    assert.equal(clock.pending, 1)
    clock.advance(1000)
    assert.deepEqual(expired, [])
    assert.equal(clock.pending, 0)
  })

  it('counts an item within a millisecond of its deadline as due (timers may fire early)', () => {
    const {clock, deadlines, expired} = setUp()
    deadlines.add(item('a'), 1000)
    deadlines.add(item('b'), 1000.5)
    clock.advance(1000)
    assert.deepEqual(expired, ['a@1000', 'b@1000'])
  })

  it('an expiry that ends another due item (deleting it) leaves that one unexpired; later items still expire', () => {
    const clock = new FakeClock()
    const expired: string[] = []
    const b = item('b')
    const deadlines: ReplyDeadlines<Item> = new ReplyDeadlines<Item>((expiring) => {
      expired.push(`${expiring.name}@${clock.now()}`)
      if (expiring.name === 'a') deadlines.delete(b)
    }, clock)
    deadlines.add(item('a'), 1000)
    deadlines.add(b, 1000)
    deadlines.add(item('c'), 2000)
    clock.advance(1000)
    assert.deepEqual(expired, ['a@1000'])
    deadlines.refresh(b)
    clock.advance(1000)
    assert.deepEqual(expired, ['a@1000', 'c@2000'])
    assert.equal(clock.pending, 0)
  })

  it('stop() clears the timer and ignores later items', () => {
    const {clock, deadlines, expired} = setUp()
    deadlines.add(item('a'), 1000)
    deadlines.stop()
    assert.equal(clock.pending, 0)
    deadlines.add(item('b'), 10)
    clock.advance(5000)
    assert.deepEqual(expired, [])
  })
})
