import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {BodyInbox, CHUNK_BYTES, Credit, WINDOW_CHUNKS, sendBody} from '../../../src/core/cluster/body-flow.js'

describe('cluster body flow (chunks under credit, no NATS)', () => {
  it('splits a body into chunks of at most CHUNK_BYTES and never sends past its credit', async () => {
    const credit = new Credit()
    const sent: Array<{kind: string; seq: number; bytes: number}> = []
    const body = Buffer.alloc(CHUNK_BYTES * (WINDOW_CHUNKS + 3) + 5, 7)
    const sending = sendBody(body, credit, (kind, seq, payload) => {
      sent.push({bytes: payload?.byteLength ?? 0, kind, seq})
      return true
    })
    await new Promise((resolve) => setImmediate(resolve))
    // The window, then nothing until the receiver grants more.
    assert.equal(sent.length, WINDOW_CHUNKS)
    credit.grant(4)
    await sending
    assert.equal(sent.length, WINDOW_CHUNKS + 4 + 1)
    assert.deepEqual(sent.map((entry) => entry.seq), sent.map((_, i) => i))
    assert.ok(sent.slice(0, -1).every((entry) => entry.kind === 'data' && entry.bytes <= CHUNK_BYTES))
    assert.deepEqual(sent.at(-1), {bytes: 0, kind: 'end', seq: WINDOW_CHUNKS + 4})
    assert.equal(sent.reduce((total, entry) => total + entry.bytes, 0), body.length)
  })

  it('stops a sender waiting for credit when the call ends', async () => {
    const credit = new Credit()
    let sent = 0
    const sending = sendBody(Buffer.alloc(CHUNK_BYTES * (WINDOW_CHUNKS + 1)), credit, () => ++sent > 0)
    await new Promise((resolve) => setImmediate(resolve))
    credit.stop()
    await sending
    assert.equal(sent, WINDOW_CHUNKS)
  })

  it('grants credit as its reader consumes, and yields the chunks in order', async () => {
    const grants: number[] = []
    const inbox = new BodyInbox((n) => grants.push(n))
    for (let seq = 0; seq < WINDOW_CHUNKS; seq++) inbox.push(seq, Buffer.from([seq]))
    inbox.end()
    const read: number[] = []
    for await (const chunk of inbox) read.push(chunk[0]!)
    assert.deepEqual(read, [...Array(WINDOW_CHUNKS).keys()])
    assert.deepEqual(grants, [WINDOW_CHUNKS / 2, WINDOW_CHUNKS / 2])
  })

  it('fails on a lost chunk (a gap in the sequence) instead of delivering a corrupt body', async () => {
    const inbox = new BodyInbox(() => {})
    inbox.push(0, Buffer.from('a'))
    inbox.push(2, Buffer.from('c'))
    await assert.rejects(async () => {
      for await (const chunk of inbox) assert.ok(chunk)
    }, /chunk 1 was lost/)
  })

  it('tells the sender when the reader gives up before the end', async () => {
    let abandoned = 0
    const inbox = new BodyInbox(() => {}, () => abandoned++)
    inbox.push(0, Buffer.from('a'))
    inbox.push(1, Buffer.from('b'))
    for await (const chunk of inbox) {
      assert.equal(chunk.toString(), 'a')
      break
    }

    assert.equal(abandoned, 1)
  })
})
