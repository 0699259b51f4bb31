// The stream table: each side's ids in a ring of their own (grown on a live collision, then the Map),
// lookups that never confuse two streams sharing a ring slot, and a peer's colliding ids kept away
// from ours.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {Stream, StreamTable} from '../../../src/core/pipe/stream.js'

const hubStream = (id: number): Stream => new Stream(id, true)

describe('pipe stream table', () => {
  it('finds, counts and deletes our own streams; a deleted slot is free for the next id', () => {
    const table = new StreamTable()
    const streams = [1, 3, 5, 7].map(hubStream)
    for (const stream of streams) table.add(stream)
    assert.equal(table.size, 4)
    assert.equal(table.get(5), streams[2])
    assert.equal(table.has(9), false)
    table.delete(streams[2]!)
    assert.equal(table.get(5), undefined)
    assert.equal(table.size, 3)
    assert.deepEqual(table.values().map((stream) => stream.id).sort((a, b) => a - b), [1, 3, 7])
    table.clear()
    assert.equal(table.size, 0)
    assert.equal(table.get(1), undefined)
  })

  it('keeps two live streams of one ring slot apart: the ring doubles, and past its bound the Map takes the newcomer', () => {
    const table = new StreamTable()
    const old = hubStream(1)
    table.add(old)
    // Ids 1 + 2k share slot 0 of a ring of k slots: 129 collides at 64 slots, 2049 even at the 1024 bound.
    const ids = [129, 257, 513, 1025, 2049, 4097]
    const later = ids.map(hubStream)
    for (const stream of later) table.add(stream)
    assert.equal(table.size, 7)
    assert.equal(table.get(1), old)
    for (const stream of later) assert.equal(table.get(stream.id), stream)
    for (const stream of later) table.delete(stream)
    assert.equal(table.size, 1)
    assert.equal(table.get(1), old)
    for (const id of ids) assert.equal(table.get(id), undefined)
  })

  it("a peer's ids chosen to collide go to the Map and leave our own streams (the other ring) alone", () => {
    const table = new StreamTable()
    const ours = [2, 4, 6].map(hubStream)
    for (const stream of ours) table.add(stream)
    const theirs = Array.from({length: 2000}, (_, i) => new Stream(1 + 2048 * i, false))
    for (const stream of theirs) table.add(stream)
    assert.equal(table.size, 2003)
    for (const stream of ours) assert.equal(table.get(stream.id), stream)
    for (const stream of theirs) assert.equal(table.get(stream.id), stream)
    for (const stream of theirs) table.delete(stream)
    assert.equal(table.size, 3)
    assert.equal(table.get(4), ours[1])
  })
})
