import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {BodyInbox, CHUNK_BYTES, Credit, INLINE_BYTES, WINDOW_CHUNKS, prefetchBody, sendBody} from '../../../src/core/cluster/body-flow.js'
import {clusterSubjects} from '../../../src/core/cluster/subjects.js'

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

  it('ignores grants that are no whole number of chunks, caps credit at the window, and gives up on a receiver that stops granting', async () => {
    const credit = new Credit(50)
    for (let i = 0; i < WINDOW_CHUNKS; i++) assert.equal(await credit.take(), true)
    for (const bad of [Number.NaN, -3, 0.5, Number.POSITIVE_INFINITY]) credit.grant(bad)
    credit.grant(1e9)
    let taken = 0
    await assert.rejects(async () => {
      for (;;) if (await credit.take()) taken++
    }, /granted no credit for 50 ms/)
    assert.equal(taken, WINDOW_CHUNKS)
  })

  it('inlines a body that ends within INLINE_BYTES, and streams a larger one whole, read start and rest in order', async () => {
    async function* pieces(sizes: number[]): AsyncGenerator<Buffer> {
      for (const [i, size] of sizes.entries()) yield Buffer.alloc(size, i)
    }

    const small = await prefetchBody(pieces([10, 20]))
    assert.ok('inline' in small)
    assert.equal(small.inline.byteLength, 30)
    assert.deepEqual(await prefetchBody('hi'), {inline: Buffer.from('hi')})
    const sizes = [INLINE_BYTES / 2, INLINE_BYTES / 2, 7, 9]
    const big = await prefetchBody(pieces(sizes))
    assert.ok('streamed' in big)
    const chunks: Buffer[] = []
    for await (const chunk of big.streamed as AsyncIterable<Buffer>) chunks.push(chunk)
    assert.deepEqual(chunks.map((chunk) => [chunk.byteLength, chunk[0]]), sizes.map((size, i) => [size, i]))
  })

  it('streams a body whose next piece is slow to come rather than wait for its end', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    async function* slow(): AsyncGenerator<Buffer> {
      yield Buffer.from('a')
      // Comes only once the prefetch has given up waiting: the open does not wait for the rest.
      await gate
      yield Buffer.from('b')
    }

    const body = await prefetchBody(slow())
    assert.ok('streamed' in body)
    release()
    const chunks: string[] = []
    for await (const chunk of body.streamed as AsyncIterable<Buffer>) chunks.push(chunk.toString())
    assert.deepEqual(chunks, ['a', 'b'])
  })

  it('fails with the source\'s error when the body breaks during the prefetch, several prefetches of one turn each on its own', async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.from('a')
      // Past the end of the turn: the wait's timer has started by then.
      await new Promise((resolve) => setTimeout(resolve, 5))
      throw new Error('the client reset')
    }

    async function* quick(text: string): AsyncGenerator<Buffer> {
      yield Buffer.from(text)
    }

    // Made in the same turn: they share one end-of-turn check, each settles with its own body.
    const [failed, first, second] = await Promise.allSettled([prefetchBody(broken()), prefetchBody(quick('x')), prefetchBody(quick('yz'))])
    assert.equal(failed.status, 'rejected')
    assert.match(String((failed as PromiseRejectedResult).reason), /the client reset/)
    assert.deepEqual((first as PromiseFulfilledResult<unknown>).value, {inline: Buffer.from('x')})
    assert.deepEqual((second as PromiseFulfilledResult<unknown>).value, {inline: Buffer.from('yz')})
  })
})

describe('cluster subjects', () => {
  it('names every node by its own subject, the same each time, past the bound of subjects kept', () => {
    const subjects = clusterSubjects('c1', 'tunnel')
    const names = Array.from({length: 5000}, (_, i) => `node.${i} *>`)
    const first = names.map((name) => subjects.node(name))
    assert.equal(new Set(first).size, names.length)
    assert.deepEqual(names.map((name) => subjects.node(name)), first)
    assert.equal(subjects.node('a.b'), `restwire.tunnel.c1.node.${Buffer.from('a.b').toString('base64url')}`)
    assert.equal(subjects.node(''), 'restwire.tunnel.c1.node._')
    // Another cluster's subjects are its own.
    assert.notEqual(clusterSubjects('c2', 'tunnel').node('a.b'), subjects.node('a.b'))
  })
})
