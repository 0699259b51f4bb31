import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import type {RestwireError} from '../../../src/core/errors.js'
import {FLAG_END, FLAG_INLINE, type Frame, FrameDecoder, FrameType, MAX_FRAME_PAYLOAD_BYTES, encodeFrame, encodeFrameHeader, encodeJsonFrame, encodeWindowFrame} from '../../../src/core/pipe/frames.js'

/** Decodes, joining DATA pieces (`more`) back into whole frames, so that any split compares equal. */
function decodeAll(chunks: Buffer[], maxPayloadBytes?: number): {frames: Frame[]; errors: RestwireError[]; pieces: number} {
  const frames: Frame[] = []
  const errors: RestwireError[] = []
  let pending: Buffer[] = []
  let pieces = 0
  const decoder = new FrameDecoder({
    maxPayloadBytes,
    onError: (error) => errors.push(error),
    onFrame(frame) {
      pieces++
      pending.push(Buffer.from(frame.payload))
      if (frame.more) return
      frames.push({flags: frame.flags, payload: Buffer.concat(pending), streamId: frame.streamId, type: frame.type})
      pending = []
    },
  })
  for (const chunk of chunks) decoder.push(chunk)
  return {errors, frames, pieces}
}

const sample = (): Buffer =>
  Buffer.concat([
    encodeJsonFrame(FrameType.HELLO, 0, 0, {heartbeatMs: 5000, role: 'hub', version: 1}),
    encodeJsonFrame(FrameType.EVENT, 0, 1, {args: ['a'], noun: 'cat', verb: 'GET'}),
    encodeFrame(FrameType.DATA, 0, 1, Buffer.from([0, 1, 2, 255, 0x0a, 0x0d])),
    encodeFrame(FrameType.DATA, FLAG_END, 1),
    encodeWindowFrame(1, 65_536),
    encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8, 7)),
    encodeFrame(FrameType.EVENT, FLAG_END | FLAG_INLINE, 3, Buffer.from([0, 2, 0x7b, 0x7d, 0xff])),
  ])

describe('pipe frames', () => {
  it('lays the header out as documented: type, flags, reserved, stream id, length (big endian)', () => {
    const frame = encodeFrame(FrameType.DATA, FLAG_END, 0x01020304, Buffer.from('hi'))
    assert.deepEqual([...frame], [3, 1, 0, 0, 1, 2, 3, 4, 0, 0, 0, 2, 0x68, 0x69])
    assert.equal(encodeFrameHeader(FrameType.PING, 0, 0, 8).length, 12)
  })

  it('decodes back-to-back frames from one chunk, binary payloads intact', () => {
    const {errors, frames} = decodeAll([sample()])
    assert.deepEqual(errors, [])
    assert.deepEqual(frames.map((f) => [f.type, f.flags, f.streamId]), [[1, 0, 0], [2, 0, 1], [3, 0, 1], [3, 1, 1], [6, 0, 1], [7, 0, 0], [2, 3, 3]])
    assert.deepEqual([...frames[2]!.payload], [0, 1, 2, 255, 0x0a, 0x0d])
    assert.equal(frames[4]!.payload.readUInt32BE(0), 65_536)
  })

  it('decodes the same frames split at every byte boundary', () => {
    const bytes = sample()
    const whole = decodeAll([bytes]).frames
    for (let cut = 1; cut < bytes.length; cut++) {
      const {errors, frames} = decodeAll([bytes.subarray(0, cut), bytes.subarray(cut)])
      assert.deepEqual(errors, [])
      assert.deepEqual(frames, whole, `cut at ${cut}`)
    }

    const oneByOne = decodeAll([...bytes].map((byte) => Buffer.from([byte])))
    assert.deepEqual(oneByOne.frames, whole)
  })

  it('hands a DATA payload on as it arrives, in pieces, END only on the last', () => {
    const payload = Buffer.alloc(50_000, 7)
    const frame = encodeFrame(FrameType.DATA, FLAG_END, 9, payload)
    const seen: Frame[] = []
    const decoder = new FrameDecoder({onError: assert.fail, onFrame: (f) => seen.push({...f, payload: Buffer.from(f.payload)})})
    decoder.push(frame.subarray(0, 16_000))
    assert.deepEqual(seen.map((f) => [f.payload.length, f.more, f.flags]), [[15_988, true, 0]])
    decoder.push(frame.subarray(16_000))
    assert.deepEqual(seen.map((f) => [f.payload.length, f.more, f.flags]), [[15_988, true, 0], [34_012, false, FLAG_END]])
    assert.ok(Buffer.concat(seen.map((f) => f.payload)).equals(payload))
  })

  it('with reuseFrame, hands the same Frame object each time, filled anew (frames split across chunks too)', () => {
    const bytes = Buffer.concat([
      encodeFrame(FrameType.EVENT, FLAG_END, 2, Buffer.from('one')),
      encodeFrame(FrameType.DATA, FLAG_END, 4, Buffer.from('two!')),
      encodeWindowFrame(6, 70_000),
    ])
    const objects = new Set<Frame>()
    const seen: Array<[number, number, number, string, boolean | undefined]> = []
    const decoder = new FrameDecoder({
      onError: assert.fail,
      onFrame(frame) {
        objects.add(frame)
        seen.push([frame.type, frame.flags, frame.streamId, frame.payload.toString('hex'), frame.more])
      },
      reuseFrame: true,
    })
    // Cut inside the second header and inside the last payload.
    decoder.push(bytes.subarray(0, 20))
    decoder.push(bytes.subarray(20, bytes.length - 2))
    decoder.push(bytes.subarray(bytes.length - 2))
    assert.equal(objects.size, 1)
    assert.deepEqual(seen, [
      [FrameType.EVENT, FLAG_END, 2, Buffer.from('one').toString('hex'), false],
      [FrameType.DATA, FLAG_END, 4, Buffer.from('two!').toString('hex'), false],
      [FrameType.WINDOW, 0, 6, '00011170', false],
    ])
    assert.equal(decoder.bufferedBytes, 0)
  })

  it('takes a payload of exactly the limit and refuses one byte more, before reading the payload', () => {
    const limit = decodeAll([encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(MAX_FRAME_PAYLOAD_BYTES))])
    assert.equal(limit.frames.length, 1)
    assert.equal(limit.frames[0]!.payload.length, MAX_FRAME_PAYLOAD_BYTES)
    // The header alone is enough to refuse: nothing is buffered waiting for 4 GiB.
    const over = decodeAll([encodeFrameHeader(FrameType.DATA, 0, 1, 0xffff_ffff)])
    assert.equal(over.frames.length, 0)
    assert.equal(over.errors[0]?.code, 'RW_ERR_FRAME_TOO_LARGE')
    assert.match(over.errors[0]!.message, /4294967295 bytes exceeds the 65536 byte limit/)
  })

  it('refuses malformed headers: unknown type, unknown flags, reserved bits, stream frames on stream 0 and back', () => {
    const header = (bytes: number[]): Buffer => Buffer.from(bytes)
    const cases: Array<[string, Buffer, RegExp]> = [
      ['unknown type', header([0x7f, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), /unknown frame type 0x7f/],
      ['unknown flags', header([3, 0x80, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), /unknown flags 0x80/],
      ['reserved', header([3, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]), /reserved header bits/],
      ['DATA on 0', header([3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), /DATA frame on stream 0/],
      ['PING on 5', header([7, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]), /PING frame on stream 5/],
      ['HTTP text', Buffer.from('GET / HTTP/1.1\r\n\r\n'), /unknown frame type 0x47/],
      ['INLINE on DATA', header([3, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]), /INLINE on a DATA frame/],
      ['INLINE without END', header([2, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]), /INLINE on a EVENT frame/],
      ['INLINE shorter than its length field', header([4, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]), /INLINE on a REPLY frame/],
    ]
    for (const [name, bytes, message] of cases) {
      const {errors, frames} = decodeAll([bytes, sample()])
      assert.equal(frames.length, 0, name)
      assert.equal(errors.length, 1, name)
      assert.equal(errors[0]!.code, 'RW_ERR_FRAME_CORRUPT', name)
      assert.match(errors[0]!.message, message, name)
    }
  })

  it('delivers the frames before a bad one, then nothing after it', () => {
    const bad = Buffer.from([0x7f, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    const {errors, frames} = decodeAll([Buffer.concat([sample(), bad, sample()])])
    assert.equal(frames.length, 7)
    assert.equal(errors.length, 1)
  })

  it('honours a smaller configured limit', () => {
    const {errors} = decodeAll([encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(1025))], 1024)
    assert.equal(errors[0]?.code, 'RW_ERR_FRAME_TOO_LARGE')
  })
})
