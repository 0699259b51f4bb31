import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {type BudgetHolder, ConnectionDecodeBudget, DecodeBudget} from '../../../src/core/korv/decode-budget.js'

/** A channel as the budget sees it: charges its holding and releases it when evicted. */
class Channel implements BudgetHolder {
  charged = 0
  evicted = false
  constructor(private readonly connection: ConnectionDecodeBudget) {}

  hold(bytes: number): string | undefined {
    const refusal = this.connection.charge(this, bytes - this.charged)
    this.charged = bytes
    return refusal
  }

  evict(): void {
    this.evicted = true
    this.hold(0)
  }
}

describe('DecodeBudget', () => {
  it('refuses a connection over its own cap, and counts releases', () => {
    const total = new DecodeBudget(1000)
    const connection = new ConnectionDecodeBudget(total, 100)
    const [a, b] = [new Channel(connection), new Channel(connection)]
    assert.equal(a.hold(60), undefined)
    assert.equal(b.hold(50), 'connection')
    assert.equal(b.hold(40), undefined)
    a.hold(0)
    b.hold(0)
    assert.deepEqual([connection.held, total.held, total.connections.size], [0, 0, 0])
  })

  it('when the shared budget runs out, evicts the largest channel of the connection holding the most', () => {
    const total = new DecodeBudget(100)
    const greedy = new ConnectionDecodeBudget(total, 100)
    const modest = new ConnectionDecodeBudget(total, 100)
    const [g1, g2, m] = [new Channel(greedy), new Channel(greedy), new Channel(modest)]
    g1.hold(30)
    g2.hold(40)
    assert.equal(m.hold(20), undefined)
    assert.equal(m.hold(35), undefined, 'the modest connection is not refused')
    assert.deepEqual([g1.evicted, g2.evicted], [false, true])
    assert.equal(total.held, 65)
    assert.equal(m.hold(80), 'server', 'the largest holder charging is refused itself')
    assert.equal(g1.evicted, false)
  })
})
