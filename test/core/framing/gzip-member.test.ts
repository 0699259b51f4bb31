import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import zlib from 'node:zlib'
import type {RestwireError} from '../../../src/core/errors.js'
import {GzipMemberDecoder, encodeGzipMember} from '../../../src/core/framing/gzip-member.js'

function collect(maxMessageBytes?: number) {
  const messages: string[] = []
  const errors: RestwireError[] = []
  const decoder = new GzipMemberDecoder({
    maxMessageBytes,
    onError: (error) => errors.push(error),
    onMessage: (payload) => messages.push(payload.toString()),
  })
  return {decoder, errors, messages}
}

const json = (n: number): string => JSON.stringify({body: 'x'.repeat(n), id: n})

describe('GzipMemberDecoder', () => {
  it('decodes members made by zlib, Python-style (compressed) and by our encoder (stored)', () => {
    const {decoder, errors, messages} = collect()
    decoder.push(zlib.gzipSync(json(1)))
    decoder.push(encodeGzipMember(Buffer.from(json(2))))
    decoder.push(zlib.gzipSync(json(3), {level: 9}))
    assert.deepEqual(messages, [json(1), json(2), json(3)])
    assert.equal(errors.length, 0)
  })

  it('decodes several members coalesced into one chunk', () => {
    const {decoder, messages} = collect()
    const payloads = Array.from({length: 50}, (_, i) => json(i))
    decoder.push(Buffer.concat(payloads.map((p, i) => (i % 2 ? zlib.gzipSync(p) : encodeGzipMember(Buffer.from(p))))))
    assert.deepEqual(messages, payloads)
  })

  it('decodes members split at every byte boundary', () => {
    const payloads = [json(10), json(20_000), json(5)]
    const stream = Buffer.concat([encodeGzipMember(Buffer.from(payloads[0]!)), zlib.gzipSync(payloads[1]!), encodeGzipMember(Buffer.from(payloads[2]!))])
    for (const size of [1, 2, 3, 7, 100, 4096]) {
      const {decoder, errors, messages} = collect()
      for (let at = 0; at < stream.length; at += size) decoder.push(stream.subarray(at, at + size))
      assert.deepEqual(messages, payloads, `chunk size ${size}`)
      assert.equal(errors.length, 0)
      assert.equal(decoder.bufferedBytes, 0)
    }
  })

  it('decodes a large stored member (over 32 KiB, several blocks) split in SSH-packet-sized pieces', () => {
    const payload = Buffer.from(json(3 * 1024 * 1024))
    const member = Buffer.concat([zlib.gzipSync(payload, {level: 0}), encodeGzipMember(Buffer.from('{"after":1}'))])
    const {decoder, errors, messages} = collect()
    for (let at = 0; at < member.length; at += 32_768) decoder.push(member.subarray(at, at + 32_768))
    assert.equal(errors.length, 0)
    assert.equal(messages.length, 2)
    assert.equal(messages[0], payload.toString())
    assert.equal(messages[1], '{"after":1}')
  })

  it('reads header fields: FNAME, FCOMMENT, FEXTRA, FHCRC', () => {
    const payload = Buffer.from('{"named":true}')
    const body = zlib.deflateRawSync(payload)
    const header = Buffer.from([0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3])
    const extra = Buffer.from([3, 0, 1, 2, 3])
    const trailer = Buffer.alloc(8)
    trailer.writeUInt32LE(zlib.crc32(payload), 0)
    trailer.writeUInt32LE(payload.length, 4)
    const member = Buffer.concat([header, extra, Buffer.from('name\0comment\0'), Buffer.from([0, 0]), body, trailer])
    const {decoder, messages} = collect()
    for (const byte of member) decoder.push(Buffer.from([byte]))
    assert.deepEqual(messages, ['{"named":true}'])
  })

  it('reports corrupt input once and ignores what follows', () => {
    const {decoder, errors, messages} = collect()
    decoder.push(Buffer.from('{"not":"gzip"}'))
    decoder.push(zlib.gzipSync('{"a":1}'))
    assert.equal(errors.length, 1)
    assert.equal(errors[0]!.code, 'RW_ERR_FRAME_CORRUPT')
    assert.deepEqual(messages, [])
  })

  it('rejects corrupt deflate data and a bad checksum', () => {
    const member = zlib.gzipSync(json(100))
    const corrupt = Buffer.from(member)
    corrupt[12] = 0xff
    corrupt[13] = 0xff
    const a = collect()
    a.decoder.push(corrupt)
    assert.equal(a.errors[0]?.code, 'RW_ERR_FRAME_CORRUPT')

    const badCrc = Buffer.from(encodeGzipMember(Buffer.from('{"a":1}')))
    badCrc[badCrc.length - 8] ^= 1
    const b = collect()
    b.decoder.push(badCrc)
    assert.equal(b.errors[0]?.code, 'RW_ERR_FRAME_CORRUPT')
    assert.deepEqual(b.messages, [])
  })

  it('rejects a reserved block type (BTYPE=11) and other inflate errors instead of reading an empty message', () => {
    const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])
    // An empty payload's trailer (CRC 0, ISIZE 0): what a decoder that hides inflate errors accepts.
    const emptyTrailer = Buffer.alloc(8)
    const cases = {
      // BFINAL=1, BTYPE=11: reserved.
      reserved: Buffer.from([0x07]),
      // A stored non-final empty block, then BTYPE=11: the fast path hands it to the inflater.
      reservedAfterStored: Buffer.from([0x00, 0, 0, 0xff, 0xff, 0x07]),
      // A fixed-Huffman block with only its end code, then a stored block whose NLEN is wrong.
      badStoredLength: Buffer.from([0x02, 0x04, 0x05, 0x00, 0x34, 0x12]),
    }
    for (const [name, body] of Object.entries(cases)) {
      for (const split of [false, true]) {
        const {decoder, errors, messages} = collect()
        const member = Buffer.concat([header, body, emptyTrailer, encodeGzipMember('{"after":1}')])
        if (split) for (const byte of member) decoder.push(Buffer.from([byte]))
        else decoder.push(member)
        assert.deepEqual(messages, [], `${name} (split: ${split})`)
        assert.equal(errors.length, 1, `${name} (split: ${split})`)
        assert.equal(errors[0]!.code, 'RW_ERR_FRAME_CORRUPT', `${name} (split: ${split})`)
      }
    }
  })

  it('enforces the decompressed size limit, including for a compression bomb', () => {
    const bomb = zlib.gzipSync(Buffer.alloc(8 * 1024 * 1024))
    const a = collect(1024 * 1024)
    a.decoder.push(bomb)
    assert.equal(a.errors[0]?.code, 'RW_ERR_FRAME_TOO_LARGE')
    assert.deepEqual(a.messages, [])

    const b = collect(1000)
    b.decoder.push(encodeGzipMember(Buffer.alloc(2000, 0x61)).subarray(0, 20))
    assert.equal(b.errors[0]?.code, 'RW_ERR_FRAME_TOO_LARGE', 'a stored block header over the limit fails before its data arrives')
  })

  it('encodes members any gzip reader accepts, from Buffers and strings (multi-byte UTF-8 too)', () => {
    for (const size of [0, 1, 100, 70_000, 200_000]) {
      const payload = Buffer.alloc(size, 0x62)
      assert.deepEqual(zlib.gunzipSync(encodeGzipMember(payload)), payload)
    }

    for (const text of ['', '{"a":1}', '{"t":"héllo €"}'.repeat(100), 'x'.repeat(9000)]) {
      assert.equal(zlib.gunzipSync(encodeGzipMember(text)).toString(), text)
    }
  })
})
