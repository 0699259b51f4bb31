import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import type {RestwireError} from '../../../src/core/errors.js'
import {NdjsonDecoder, encodeNdjson} from '../../../src/core/framing/ndjson.js'

function collect(maxLineBytes?: number) {
  const lines: string[] = []
  const errors: RestwireError[] = []
  const decoder = new NdjsonDecoder({maxLineBytes, onError: (error) => errors.push(error), onLine: (line) => lines.push(line.toString())})
  return {decoder, errors, lines}
}

describe('NdjsonDecoder', () => {
  it('splits coalesced lines, joins split ones, handles \\r\\n and skips empty lines', () => {
    const {decoder, lines} = collect()
    decoder.push(Buffer.from('{"a":1}\n{"b":'))
    decoder.push(Buffer.from('2}\r\n\n{"c"'))
    decoder.push(Buffer.from(':3}\n'))
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}'])
    assert.equal(decoder.bufferedBytes, 0)
  })

  it('handles multi-byte UTF-8 split across chunks', () => {
    const {decoder, lines} = collect()
    const data = encodeNdjson({text: 'héllo €'})
    for (const byte of data) decoder.push(Buffer.from([byte]))
    assert.deepEqual(lines.map((line) => JSON.parse(line)), [{text: 'héllo €'}])
  })

  it('fails on a line over the limit, whether it arrives whole or in pieces', () => {
    const whole = collect(10)
    whole.decoder.push(Buffer.from('{"a":"0123456789"}\n{"b":1}\n'))
    assert.equal(whole.errors[0]?.code, 'RW_ERR_FRAME_TOO_LARGE')
    assert.deepEqual(whole.lines, [])

    const pieces = collect(10)
    pieces.decoder.push(Buffer.from('{"a":"0123'))
    pieces.decoder.push(Buffer.from('456789"'))
    assert.equal(pieces.errors.length, 1)
    pieces.decoder.push(Buffer.from('}\n'))
    assert.equal(pieces.errors.length, 1)
  })
})
