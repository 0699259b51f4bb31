// IncomingBody without a session: credit granted only for bytes handed to a reader, whole reads,
// streams made on demand, and a sender that overruns its window.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {type BodyOwner, IncomingBody} from '../../../src/core/pipe/incoming-body.js'

function owned(windowBytes: number): {body: IncomingBody; grants: number[]; abandoned: number} {
  const state = {abandoned: 0, body: undefined as unknown as IncomingBody, grants: [] as number[]}
  const owner: BodyOwner = {
    abandoned: () => state.abandoned++,
    grant: (_body, bytes) => state.grants.push(bytes),
  }
  state.body = new IncomingBody(windowBytes, owner, 7)
  return state
}

describe('pipe incoming body', () => {
  it('holds one window of unread bytes and refuses a sender that goes past it', () => {
    const {body, grants} = owned(10)
    assert.equal(body.deliver(Buffer.alloc(6)), true)
    assert.equal(body.deliver(Buffer.alloc(4)), true)
    assert.equal(body.unconsumed, 10)
    assert.equal(body.deliver(Buffer.alloc(1)), false)
    assert.deepEqual(grants, [], 'no credit for bytes nobody read')
  })

  it('read() returns a body that is already whole without granting credit', async () => {
    const {body, grants} = owned(100)
    body.deliver(Buffer.from('abc'))
    body.deliver(Buffer.from('def'))
    body.finish()
    assert.equal(body.complete, true)
    assert.equal((await body.read(100)).toString(), 'abcdef')
    assert.deepEqual(grants, [])
  })

  it('a waiting read() grants credit as chunks arrive, so the sender may send past one window', async () => {
    const {body, grants} = owned(10)
    body.deliver(Buffer.from('0123456789'))
    const whole = body.read(100)
    assert.deepEqual(grants, [10])
    assert.equal(body.deliver(Buffer.from('abcdefghij')), true)
    assert.equal(body.deliver(Buffer.from('!')), true)
    body.finish()
    assert.equal((await whole).toString(), '0123456789abcdefghij!')
    assert.deepEqual(grants, [10, 10, 1])
  })

  it('read() refuses a body larger than maxBytes (then drops it), and a second reader', async () => {
    const {body} = owned(100)
    const first = body.read(5)
    await assert.rejects(body.read(5), /already being read/)
    body.deliver(Buffer.alloc(6))
    await assert.rejects(first, /larger than 5 bytes/)
    const early = owned(100)
    early.body.deliver(Buffer.alloc(6))
    early.body.finish()
    await assert.rejects(early.body.read(5), RangeError)
  })

  it('fail() rejects a reader; after the end it changes nothing', async () => {
    const {body} = owned(100)
    const whole = body.read(100)
    body.fail(new Error('reset'))
    await assert.rejects(whole, /reset/)
    const done = owned(100)
    done.body.deliver(Buffer.from('ok'))
    done.body.finish()
    done.body.fail(new Error('late'))
    assert.equal((await done.body.read(100)).toString(), 'ok')
  })

  it('discard() drops what is buffered and what still arrives, within the window', async () => {
    const {body} = owned(10)
    body.deliver(Buffer.alloc(4))
    body.discard()
    assert.equal(body.deliver(Buffer.alloc(4)), true)
    assert.equal(body.deliver(Buffer.alloc(3)), false, 'discarded bytes still count against the window')
    body.finish()
    assert.equal((await body.read(100)).length, 0)
  })

  it('stream() hands out what was buffered first, grants credit as it is consumed, and carries the accounting', async () => {
    const {body, grants} = owned(8)
    body.deliver(Buffer.from('abcd'))
    const readable = body.stream()
    assert.equal(body.stream(), readable, 'one stream per body')
    body.deliver(Buffer.from('efgh'))
    assert.equal(body.deliver(Buffer.from('!')), false, 'the Readable keeps the window')
    body.finish()
    const chunks: Buffer[] = []
    for await (const chunk of readable) chunks.push(chunk as Buffer)
    assert.equal(Buffer.concat(chunks).toString(), 'abcdefgh')
    assert.equal(grants.reduce((sum, bytes) => sum + bytes, 0), 8)
    assert.equal(body.complete, true)
  })

  it('a stream closed before its end tells the owner (the reader gave up); one that ended does not', async () => {
    const gaveUp = owned(100)
    gaveUp.body.deliver(Buffer.from('abc'))
    const readable = gaveUp.body.stream()
    readable.destroy()
    await new Promise((resolve) => readable.once('close', resolve))
    assert.equal(gaveUp.abandoned, 1)
    const finished = owned(100)
    finished.body.finish()
    const ended = finished.body.stream()
    ended.resume()
    await new Promise((resolve) => ended.once('close', resolve))
    assert.equal(finished.abandoned, 0)
  })

  it('IncomingBody.whole() holds an INLINE body that needs no credit', async () => {
    const body = IncomingBody.whole(Buffer.from('inline'))
    assert.equal(body.complete, true)
    assert.equal((await body.read(100)).toString(), 'inline')
  })
})
