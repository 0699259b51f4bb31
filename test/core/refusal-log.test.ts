// createRefusalLog (src/core/refusal-log.ts): the first refusal reported at once, the rest as one count
// per period, nothing lost at the end of a period or at close().
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {createRefusalLog} from '../../src/core/refusal-log.js'
import {waitFor} from '../helpers/wait.js'

describe('refusal log', () => {
  it('reports the first refusal at once and the rest of a flood as one count when the period ends', async () => {
    const reports: number[] = []
    const log = createRefusalLog((refused) => reports.push(refused), 50)
    log.add()
    assert.deepEqual(reports, [1])
    for (let i = 0; i < 999; i++) log.add()
    // Within the period: counted, not reported.
    assert.deepEqual(reports, [1])
    assert.equal(log.total, 1000)
    await waitFor(() => reports.length === 2, 5000, 'the period to end')
    assert.deepEqual(reports, [1, 999])
    log.close()
  })

  it('after a quiet period the next refusal is reported at once again', async () => {
    const reports: number[] = []
    const log = createRefusalLog((refused) => reports.push(refused), 20)
    log.add()
    log.add()
    await waitFor(() => reports.length === 2, 5000, 'the pending refusal')
    // The period after the pending report passes with nothing: the next one starts a new period.
    await new Promise((resolve) => setTimeout(resolve, 100))
    log.add()
    assert.deepEqual(reports, [1, 1, 1])
    log.close()
  })

  it('close() reports what is pending, once, and nothing after', async () => {
    const reports: number[] = []
    const log = createRefusalLog((refused) => reports.push(refused), 60_000)
    log.add()
    log.add()
    log.add()
    log.close()
    log.close()
    assert.deepEqual(reports, [1, 2])
    assert.equal(log.total, 3)
  })
})
