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

  it('records a streamed body as a copy of its first bytes, however long it runs', () => {
    const log = new TrafficLog({bodies: true, maxBodyBytes: 100})
    const body = log.captureBody()!
    const record = log.add(input({bytes: 0}))
    log.attachBody(record, 'request', body)
    const chunk = Buffer.alloc(60, 1)
    body.add(chunk)
    chunk.fill(9)
    body.add('é'.repeat(50))
    for (let i = 0; i < 1000; i++) body.add(Buffer.alloc(1000))
    const kept = record.request.value as Buffer
    assert.equal(kept.length, 100)
    assert.deepEqual(kept.subarray(0, 60), Buffer.alloc(60, 1), 'a copy: the sender may reuse its buffer')
    assert.equal(kept.subarray(60).toString('utf8'), 'é'.repeat(20))
    assert.equal(record.request.bytes, 60 + 100 + 1000 * 1000)
    assert.throws(() => (body.value = Buffer.alloc(1)), TypeError)
  })

  it('counts streamed bodies towards the total as they grow, and stops recording one whose record left', () => {
    const log = new TrafficLog({bodies: true, keep: 3, maxBodyBytes: 1000, maxBodyTotalBytes: 2500})
    const bodies = [0, 1, 2].map(() => {
      const body = log.captureBody()!
      log.attachBody(log.add(input({bytes: 0})), 'response', body)
      return body
    })
    for (const body of bodies) body.add(Buffer.alloc(1000))
    // 3000 bytes over a total of 2500: the oldest record lost its body, the newest kept theirs.
    assert.deepEqual(bodies.map((b) => b.value?.length), [undefined, 1000, 1000])
    bodies[0]!.add(Buffer.alloc(10))
    assert.equal(bodies[0]!.value, undefined, 'a dropped body stays dropped')
    const late = log.captureBody()!
    const lateRecord = log.add(input({bytes: 0}, late))
    late.add(Buffer.alloc(500))
    assert.equal((lateRecord.response.value as Buffer).length, 500)
    log.add(input({bytes: 0}))
    log.add(input({bytes: 0}))
    log.add(input({bytes: 0}))
    // lateRecord left the ring (keep 3): what still streams is no longer kept.
    assert.equal(late.value, undefined)
    late.add(Buffer.alloc(10))
    assert.equal(late.value, undefined)
  })

  it('makes no recorder without `bodies`', () => {
    assert.equal(new TrafficLog({keep: 10}).captureBody(), undefined)
  })
})
