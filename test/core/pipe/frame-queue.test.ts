// FrameQueue on a fake sink: what is written when, and in which shape.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'
import {FrameQueue} from '../../../src/core/pipe/frame-queue.js'
import {FLAG_END, FLAG_INLINE, FrameType} from '../../../src/core/pipe/frames.js'
import {encodeEventMeta, parseEventMeta, eventMetaLength} from '../../../src/core/pipe/messages.js'
import {FakeTransport, decodeFrames, turn, typeOf} from '../../helpers/pipe-engine.js'

describe('pipe frame queue', () => {
  it('writes the small frames of one turn together, at the end of the turn', async () => {
    const sink = new FakeTransport()
    const queue = new FrameQueue(sink)
    queue.frame(FrameType.PING, 0, 0, Buffer.alloc(8, 1))
    queue.json(FrameType.RESET, 0, 3, {code: 504, reason: 'late'})
    queue.frame(FrameType.DATA, FLAG_END, 3)
    assert.equal(sink.written.length, 0)
    assert.equal(queue.bytes, 12 + 8 + 12 + 28 + 12)
    await turn()
    assert.equal(sink.written.length, 1)
    assert.equal(queue.bytes, 0)
    const frames = decodeFrames(sink.written)
    assert.deepEqual(frames.map((frame) => [typeOf(frame), frame.streamId, frame.flags]), [['PING', 0, 0], ['RESET', 3, 0], ['DATA', 3, FLAG_END]])
    assert.deepEqual(JSON.parse(frames[1]!.payload.toString()), {code: 504, reason: 'late'})
  })

  it('holds no written buffer once a turn is out: not an idle turn\'s slab, not a large frame\'s own buffer', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    // A sink that keeps what it is given as given (FakeTransport keeps copies).
    const sink = {destroyed: false, writableNeedDrain: false, written: [] as Buffer[], write: (chunk: Buffer) => sink.written.push(chunk) > 0}
    const queue = new FrameQueue(sink)
    /** The memory of what the sink was given, weakly, and the sink's own references dropped. */
    const written = (): Array<WeakRef<ArrayBufferLike>> => sink.written.splice(0).map((chunk) => new WeakRef(chunk.buffer))
    // A heartbeat's turn: under 1 KiB, so its slab is given up.
    queue.frame(FrameType.PING, 0, 0, Buffer.alloc(8, 1))
    await turn()
    const [slab] = written()
    // A WeakRef keeps its target for the rest of the job that made it.
    await turn()
    gc()
    assert.equal(slab!.deref(), undefined, 'the idle turn\'s slab was freed')
    // A frame over a quarter slab gets its own buffer (5 KiB: not from Buffer's shared pool either),
    // written at once (over 2 KiB).
    queue.json(FrameType.RESET, 0, 3, {reason: 'x'.repeat(5 * 1024)})
    const [own] = written()
    await turn()
    gc()
    assert.equal(own!.deref(), undefined, 'the large frame\'s buffer was freed')
  })

  it('writes at once when 2 KiB are waiting, so the peer can start early', () => {
    const sink = new FakeTransport()
    const queue = new FrameQueue(sink)
    for (let i = 0; i < 100 && sink.written.length === 0; i++) queue.frame(FrameType.DATA, 0, 1, Buffer.alloc(100, i))
    assert.equal(sink.written.length, 1)
    assert.ok(sink.written[0]!.length >= 2048 && sink.written[0]!.length < 2048 + 112)
  })

  it('carries a large payload byte for byte, one frame of up to 64 KiB per write', async () => {
    const sink = new FakeTransport()
    const queue = new FrameQueue(sink)
    const payloads = [Buffer.alloc(65_536, 7), Buffer.alloc(40_000, 8), Buffer.alloc(65_536, 9)]
    for (const payload of payloads) queue.frame(FrameType.DATA, 0, 5, payload)
    await turn()
    assert.equal(sink.written.length, 3)
    assert.ok(decodeFrames(sink.written).every((frame, index) => frame.payload.equals(payloads[index]!)))
  })

  it('writes EVENT metadata straight into the frame, with an INLINE string body as UTF-8', async () => {
    const sink = new FakeTransport()
    const queue = new FrameQueue(sink)
    const meta = {args: ['ä'], contentType: 'text/plain', noun: 'echo', verb: 'POST'}
    const metaBytes = eventMetaLength(meta)
    queue.meta(FrameType.EVENT, FLAG_INLINE | FLAG_END, 2, meta, metaBytes, 'grüß', Buffer.byteLength('grüß'))
    queue.meta(FrameType.EVENT, 0, 4, meta, metaBytes)
    await turn()
    const [inline, plain] = decodeFrames(sink.written)
    assert.equal(inline!.payload.readUInt16BE(0), metaBytes)
    assert.deepEqual(parseEventMeta(inline!.payload, 2, 2 + metaBytes), meta)
    assert.equal(inline!.payload.subarray(2 + metaBytes).toString(), 'grüß')
    assert.deepEqual(parseEventMeta(plain!.payload), meta)
  })

  it('drained() waits while the sink is full and resolves on writable()', async () => {
    const sink = new FakeTransport()
    const queue = new FrameQueue(sink)
    let drained = false
    void queue.drained().then(() => (drained = true))
    queue.frame(FrameType.DATA, 0, 1, Buffer.alloc(10))
    await turn()
    assert.equal(drained, true, 'the write went through: drained at once')
    sink.writableNeedDrain = true
    assert.equal(queue.sinkFull, true)
    drained = false
    void queue.drained().then(() => (drained = true))
    queue.frame(FrameType.DATA, 0, 1, Buffer.alloc(10))
    await turn()
    assert.equal(drained, false)
    sink.writableNeedDrain = false
    queue.writable()
    await turn()
    assert.equal(drained, true)
  })

  it('close() drops what waits, ignores later frames and releases waiters; a destroyed sink gets nothing', async () => {
    const sink = new FakeTransport()
    const queue = new FrameQueue(sink)
    sink.writableNeedDrain = true
    const waiting = queue.drained()
    queue.frame(FrameType.PING, 0, 0, Buffer.alloc(8))
    queue.close()
    await waiting
    queue.frame(FrameType.PING, 0, 0, Buffer.alloc(8))
    queue.json(FrameType.GOAWAY, 0, 0, {reason: 'x'})
    await turn()
    assert.equal(sink.written.length, 0)
    assert.equal(queue.bytes, 0)
    await queue.drained()
    const gone = new FakeTransport()
    gone.destroyed = true
    const other = new FrameQueue(gone)
    other.frame(FrameType.PING, 0, 0, Buffer.alloc(8))
    other.flush()
    assert.equal(gone.written.length, 0)
  })

  it('small frames share slabs, larger ones get a buffer of their own: every frame in order, byte for byte, across early writes and turns', async () => {
    const sink = new FakeTransport()
    const queue = new FrameQueue(sink)
    const sent: Array<{type: string; streamId: number; payload: Buffer}> = []
    const meta = {args: [], contentType: 'application/json', noun: 'echo', verb: 'POST'}
    const metaBytes = eventMetaLength(meta)
    for (let turnIndex = 0; turnIndex < 3; turnIndex++) {
      for (let i = 0; i < 400; i++) {
        const streamId = turnIndex * 1000 + i + 1
        // Sizes around the slab's bounds: empty, small, 1 KiB copied, 1 KiB + 1 by reference, over a quarter slab.
        const size = [0, 30, 1024, 1025, 2100, 5000][i % 6]!
        const payload = Buffer.alloc(size, i & 0xff)
        if (i % 7 === 3) {
          const body = 'ü'.repeat(i % 50)
          queue.meta(FrameType.EVENT, FLAG_INLINE | FLAG_END, streamId, meta, metaBytes, body, Buffer.byteLength(body))
          sent.push({payload: Buffer.concat([Buffer.from([metaBytes >> 8, metaBytes & 0xff]), encodeEventMeta(meta), Buffer.from(body)]), streamId, type: 'EVENT'})
        } else {
          queue.frame(FrameType.DATA, 0, streamId, payload)
          sent.push({payload, streamId, type: 'DATA'})
        }
      }

      await turn()
    }

    const frames = decodeFrames(sink.written)
    assert.equal(frames.length, sent.length)
    for (const [index, frame] of frames.entries()) {
      assert.equal(typeOf(frame), sent[index]!.type)
      assert.equal(frame.streamId, sent[index]!.streamId)
      assert.ok(frame.payload.equals(sent[index]!.payload), `frame ${index}`)
    }
  })
})
