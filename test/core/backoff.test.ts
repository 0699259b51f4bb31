import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {nextBackoffMs} from '../../src/core/backoff.js'

describe('nextBackoffMs', () => {
  it('doubles from initialMs up to maxMs, between half and all of the ceiling', () => {
    const options = {initialMs: 500, maxMs: 30_000}
    assert.deepEqual([1, 2, 3, 4].map((attempt) => nextBackoffMs(attempt, options, () => 0)), [250, 500, 1000, 2000])
    assert.deepEqual([1, 2, 3, 4].map((attempt) => nextBackoffMs(attempt, options, () => 1)), [500, 1000, 2000, 4000])
    assert.equal(nextBackoffMs(20, options, () => 1), 30_000)
    assert.equal(nextBackoffMs(1000, options, () => 0), 15_000, 'no overflow for a large attempt count')
  })

  it('defaults to 0.5 s doubling up to 30 s', () => {
    assert.equal(nextBackoffMs(1, {}, () => 1), 500)
    assert.equal(nextBackoffMs(30, undefined, () => 1), 30_000)
  })
})
