// The TrafficLog's bounds on the bodies it keeps for the inspector: per body (a Buffer cut to a copy of
// its first bytes, a large JSON value dropped) and in total (the oldest records lose theirs first).
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {type TrafficInput, TrafficLog} from '../../../src/core/observe/traffic.js'

const input = (request: {bytes: number; value?: unknown}, response: {bytes: number; value?: unknown} = {bytes: 0}): TrafficInput => ({
  at: 0, direction: 'out', latencyMs: 1, path: '/x', protocol: 'pipe', request, response, status: 200, verb: 'GET',
})

describe('TrafficLog body bounds', () => {
  it('keeps small bodies, cuts a large Buffer to a copy of its first bytes, drops a large JSON value', () => {
    const log = new TrafficLog({bodies: true, maxBodyBytes: 1024})
    const small = log.add(input({bytes: 2, value: {a: 1}}))
    assert.deepEqual(small.request.value, {a: 1})
    const big = Buffer.alloc(10_000, 7)
    const cut = log.add(input({bytes: big.length, value: big}))
    const kept = cut.request.value as Buffer
    assert.equal(kept.length, 1024)
    assert.notEqual(kept.buffer, big.buffer, 'a copy, so the large buffer can be freed')
    assert.equal(cut.request.bytes, 10_000)
    const json = log.add(input({bytes: 5000, value: {text: 'y'.repeat(4990)}}))
    assert.equal(json.request.value, undefined)
    assert.equal(json.request.bytes, 5000)
  })

  it('drops the oldest bodies past the total, never the records', () => {
    const log = new TrafficLog({bodies: true, maxBodyBytes: 1000, maxBodyTotalBytes: 2500})
    const records = [1, 2, 3, 4].map(() => log.add(input({bytes: 1000, value: Buffer.alloc(1000)})))
    assert.deepEqual(records.map((r) => r.request.value === undefined), [true, true, false, false])
    assert.equal(log.recent().length, 4)
    const next = log.add(input({bytes: 1000, value: Buffer.alloc(1000)}))
    assert.deepEqual([...records, next].map((r) => r.request.value === undefined), [true, true, true, false, false])
  })

  it('keeps no bodies at all without `bodies`', () => {
    const log = new TrafficLog({keep: 2})
    const record = log.add(input({bytes: 3, value: 'abc'}, {bytes: 2, value: {}}))
    assert.equal(record.request.value, undefined)
    assert.equal(record.response.value, undefined)
  })
})
