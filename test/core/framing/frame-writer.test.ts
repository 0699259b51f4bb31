import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {FrameWriter} from '../../../src/core/framing/frame-writer.js'

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function sink(): {writes: Buffer[]; write: (chunk: Buffer) => boolean} {
  const writes: Buffer[] = []
  return {write: (chunk) => writes.push(chunk) > 0, writes}
}

describe('FrameWriter', () => {
  it('without coalescing, writes every frame at once', () => {
    const out = sink()
    const writer = new FrameWriter(out, false)
    writer.write(Buffer.from('a'))
    writer.write(Buffer.from('b'))
    assert.deepEqual(out.writes.map(String), ['a', 'b'])
  })

  it('coalesces the small frames of one turn into one write at the end of the turn', async () => {
    const out = sink()
    const writer = new FrameWriter(out, true)
    for (const text of ['a', 'b', 'c']) writer.write(Buffer.from(text))
    assert.equal(out.writes.length, 0)
    await nextTurn()
    assert.deepEqual(out.writes.map(String), ['abc'])
  })

  it('writes early once about 2 KiB wait, then in pieces of about 16 KiB, in order, and the rest at the end of the turn', async () => {
    const out = sink()
    const writer = new FrameWriter(out, true)
    const frames = Array.from({length: 400}, (_, i) => Buffer.alloc(100, i))
    for (const frame of frames) writer.write(frame)
    assert.ok(out.writes.length >= 2, `written early: ${out.writes.length} writes in the turn`)
    assert.ok(out.writes[0]!.length <= 2100, `first write ${out.writes[0]!.length} bytes`)
    assert.ok(out.writes.slice(1).every((chunk) => chunk.length > 2100 && chunk.length <= 16 * 1024 + 100))
    await nextTurn()
    assert.deepEqual(Buffer.concat(out.writes), Buffer.concat(frames))
  })

  it('starts each turn with the 2 KiB threshold again', async () => {
    const out = sink()
    const writer = new FrameWriter(out, true)
    for (let i = 0; i < 30; i++) writer.write(Buffer.alloc(100, i))
    await nextTurn()
    const firstTurn = out.writes.length
    for (let i = 0; i < 30; i++) writer.write(Buffer.alloc(100, i))
    assert.equal(out.writes.length, firstTurn + 1, 'an early write once 2 KiB wait in the next turn too')
    assert.ok(out.writes.at(-1)!.length <= 2100)
    await nextTurn()
  })

  it("with 'tick' timing, writes the frames of one callback right after it, not at the end of the turn", async () => {
    const out = sink()
    const writer = new FrameWriter(out, true, 'tick')
    const seen = await new Promise<string[]>((resolve) =>
      setImmediate(() => {
        for (const text of ['a', 'b', 'c']) writer.write(Buffer.from(text))
        assert.equal(out.writes.length, 0)
        // A tick queued after the writer's own runs once it has written.
        process.nextTick(() => resolve(out.writes.map(String)))
      }),
    )
    assert.deepEqual(seen, ['abc'])
  })

  it("with 'tick' timing, frames written by the promise jobs of one run join one write", async () => {
    const out = sink()
    const writer = new FrameWriter(out, true, 'tick')
    writer.write(Buffer.from('a'))
    await Promise.resolve()
    writer.write(Buffer.from('b'))
    await nextTurn()
    writer.write(Buffer.from('c'))
    await nextTurn()
    assert.deepEqual(out.writes.map(String), ['ab', 'c'])
  })

  it("with 'tick' timing, still writes early once 2 KiB wait", () => {
    const out = sink()
    const writer = new FrameWriter(out, true, 'tick')
    for (let i = 0; i < 30; i++) writer.write(Buffer.alloc(100, i))
    assert.equal(out.writes.length, 1)
    assert.ok(out.writes[0]!.length <= 2100)
  })

  it('drops what is queued on close and ignores later writes', async () => {
    const out = sink()
    const writer = new FrameWriter(out, true)
    writer.write(Buffer.from('lost'))
    writer.close()
    writer.write(Buffer.from('ignored'))
    await nextTurn()
    assert.deepEqual(out.writes, [])
  })
})
