// CallAbort (pipe/call-signal.ts): the signal of a gateway request or of a call served for another hub.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {CallAbort} from '../../../src/core/pipe/call-signal.js'

describe('CallAbort', () => {
  it('calls each listener once on abort, never one removed or added after, and reports one that throws without skipping the rest', () => {
    const errors: string[] = []
    const signal = new CallAbort((error) => errors.push(error.message))
    const calls: string[] = []
    const removed = (): number => calls.push('removed')
    signal.addEventListener('abort', () => calls.push('first'))
    signal.addEventListener('abort', removed)
    signal.addEventListener('abort', () => {
      throw new Error('a broken listener')
    })
    signal.addEventListener('abort', () => calls.push('last'))
    signal.removeEventListener('abort', removed)
    assert.equal(signal.aborted, false)
    signal.abort()
    assert.equal(signal.aborted, true)
    signal.addEventListener('abort', () => calls.push('late'))
    signal.abort()
    assert.deepEqual(calls, ['first', 'last'])
    assert.deepEqual(errors, ['a broken listener'])
  })
})
