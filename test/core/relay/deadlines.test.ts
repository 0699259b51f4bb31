// A route's call timeouts on one timer: calls expire in order, an ended call never does, the list
// keeps nothing once calls end, and a call added after a pause gets its own full timeout.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {Deadlines} from '../../../src/core/relay/deadlines.js'
import {RelayCall} from '../../../src/core/relay/exchange.js'

const cancelled = (calls: RelayCall[]): Array<string | undefined> => calls.map((call) => call.cancelled)

/** Resolves once every call given has been cancelled (bounded by the test's timeout). */
async function untilCancelled(calls: RelayCall[]): Promise<void> {
  while (calls.some((call) => call.cancelled === undefined)) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe('relay Deadlines', {timeout: 10_000}, () => {
  it('cancels every call still listed at its deadline, and none that ended', async () => {
    const deadlines = new Deadlines(30)
    const calls = Array.from({length: 5}, () => new RelayCall())
    for (const call of calls) deadlines.add(call)
    deadlines.remove(calls[0]!)
    deadlines.remove(calls[2]!)
    deadlines.remove(calls[4]!)
    // Removing twice (an ended call removed again) changes nothing.
    deadlines.remove(calls[2]!)
    assert.equal(deadlines.size, 2)
    await untilCancelled([calls[1]!, calls[3]!])
    assert.deepEqual(cancelled(calls), [undefined, 'timeout', undefined, 'timeout', undefined])
    assert.equal(deadlines.size, 0)
  })

  it('a call that ends in time is never cancelled; a later call still gets its timeout', async () => {
    const deadlines = new Deadlines(20)
    const early = new RelayCall()
    deadlines.add(early)
    deadlines.remove(early)
    // The timer armed for `early` fires with nothing due; the next call re-arms it.
    await new Promise((resolve) => setTimeout(resolve, 40))
    const late = new RelayCall()
    deadlines.add(late)
    await untilCancelled([late])
    assert.equal(early.cancelled, undefined)
    assert.equal(late.cancelled, 'timeout')
  })

  it('calls added while the first waits expire after it, in the order they started', async () => {
    const order: string[] = []
    class Named extends RelayCall {
      constructor(readonly name: string) {
        super()
      }

      override cancel(reason: 'timeout' | 'client-gone'): void {
        order.push(this.name)
        super.cancel(reason)
      }
    }

    const deadlines = new Deadlines(40)
    const first = new Named('first')
    deadlines.add(first)
    await new Promise((resolve) => setTimeout(resolve, 25))
    const second = new Named('second')
    const third = new Named('third')
    deadlines.add(second)
    deadlines.add(third)
    await untilCancelled([first, second, third])
    assert.deepEqual(order, ['first', 'second', 'third'])
    assert.equal(deadlines.size, 0)
  })
})
