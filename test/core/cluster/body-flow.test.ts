import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {BodyInbox, CHUNK_BYTES, Credit, WINDOW_CHUNKS, sendBody} from '../../../src/core/cluster/body-flow.js'

describe('cluster body flow (chunks under credit, no NATS)', () => {
  it('splits a body into chunks of at most CHUNK_BYTES, never sends past its credit, and marks the last', async () => {
    const credit = new Credit()
    const sent: Array<{seq: number; bytes: number; end: boolean}> = []
    const body = Buffer.alloc(CHUNK_BYTES * (WINDOW_CHUNKS + 3) + 5, 7)
    const sending = sendBody(body, credit, (seq, payload, end) => {
      sent.push({bytes: payload?.byteLength ?? 0, end, seq})
      return true
    })
    await new Promise((resolve) => setImmediate(resolve))
    // The window, then nothing until the receiver grants more.
    assert.equal(sent.length, WINDOW_CHUNKS)
    credit.grant(4)
    await sending
    assert.equal(sent.length, WINDOW_CHUNKS + 4)
    assert.deepEqual(sent.map((entry) => entry.seq), sent.map((_, i) => i))
    assert.ok(sent.every((entry) => entry.bytes > 0 && entry.bytes <= CHUNK_BYTES))
    assert.deepEqual(sent.map((entry) => entry.end), sent.map((_, i) => i === sent.length - 1))
    assert.equal(sent.reduce((total, entry) => total + entry.bytes, 0), body.length)
  })

  it('sends a small body, or none, as one message that carries the end', async () => {
    for (const [source, bytes] of [[Buffer.from('hello'), 5], [Buffer.alloc(0), 0]] as const) {
      const sent: Array<[number, number, boolean]> = []
      await sendBody(source, new Credit(), (seq, payload, end) => sent.push([seq, payload?.byteLength ?? 0, end]) > 0)
      assert.deepEqual(sent, [[0, bytes, true]])
    }
  })

  it('stops a sender waiting for credit when the call ends', async () => {
    const credit = new Credit()
    let sent = 0
    const sending = sendBody(Buffer.alloc(CHUNK_BYTES * (WINDOW_CHUNKS + 2)), credit, () => ++sent > 0)
    await new Promise((resolve) => setImmediate(resolve))
    credit.stop()
    await sending
    assert.equal(sent, WINDOW_CHUNKS)
  })

  it('grants credit as its reader consumes, and yields the chunks in order', async () => {
    const grants: number[] = []
    const inbox = new BodyInbox((n) => grants.push(n))
    for (let seq = 0; seq < WINDOW_CHUNKS; seq++) inbox.push(seq, Buffer.from([seq]), seq === WINDOW_CHUNKS - 1)
    const read: number[] = []
    for await (const chunk of inbox) read.push(chunk[0]!)
    assert.deepEqual(read, [...Array(WINDOW_CHUNKS).keys()])
    assert.deepEqual(grants, [WINDOW_CHUNKS / 2, WINDOW_CHUNKS / 2])
  })

  it('fails on a lost chunk (a gap in the sequence) instead of delivering a corrupt body', async () => {
    const inbox = new BodyInbox(() => {})
    inbox.push(0, Buffer.from('a'), false)
    inbox.push(2, Buffer.from('c'), true)
    await assert.rejects(async () => {
      for await (const chunk of inbox) assert.ok(chunk)
    }, /chunk 1 was lost/)
  })

  it('tells the sender when the reader gives up before the end', async () => {
    let abandoned = 0
    const inbox = new BodyInbox(() => {}, () => abandoned++)
    inbox.push(0, Buffer.from('a'), false)
    inbox.push(1, Buffer.from('b'), false)
    for await (const chunk of inbox) {
      assert.equal(chunk.toString(), 'a')
      break
    }

    assert.equal(abandoned, 1)
  })
})
