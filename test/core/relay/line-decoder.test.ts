// The one relay line decoder, which the server reads request lines with and the client reply lines:
// fed bytes directly, no socket.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {RelayLineDecoder} from '../../../src/core/relay/index.js'

type Out = Array<string | {overlong: number}>

function decoderInto(out: Out, maxLineBytes: number): RelayLineDecoder {
  return new RelayLineDecoder({maxLineBytes, onLine: (line) => out.push(line.toString()), onOverlong: (limit) => out.push({overlong: limit})})
}

function decode(chunks: Array<string | Buffer>, maxLineBytes = 10): Out {
  const out: Out = []
  const decoder = decoderInto(out, maxLineBytes)
  for (const chunk of chunks) decoder.push(Buffer.from(chunk))
  return out
}

describe('RelayLineDecoder', () => {
  it('splits on \\n, drops a \\r before it, skips empty lines, joins lines split across chunks', () => {
    assert.deepEqual(decode(['a\nb\r\n\n\r\nc', 'd\n']), ['a', 'b', 'cd'])
    // Byte by byte, a "\r\n" split between chunks included.
    assert.deepEqual(decode([...'{"x":1}\r\n{"y":2}\n'].map((ch) => Buffer.from(ch))), ['{"x":1}', '{"y":2}'])
    // A "\r" inside a line is data; only the one before "\n" goes.
    assert.deepEqual(decode(['a\rb\r\n']), ['a\rb'])
  })

  it('keeps UTF-8 split across chunks whole', () => {
    const bytes = Buffer.from('"é€"\n')
    assert.deepEqual(decode([bytes.subarray(0, 2), bytes.subarray(2, 4), bytes.subarray(4)], 100), ['"é€"'])
  })

  it('reports a line over the limit once, whether it arrives whole or in pieces, and goes on with the next', () => {
    assert.deepEqual(decode(['0123456789ABC', 'DEF', 'GH\nok\n']), [{overlong: 10}, 'ok'])
    assert.deepEqual(decode(['0123456789ABCDEF\nok\n']), [{overlong: 10}, 'ok'])
    assert.deepEqual(decode(['0123456789A\r\nok\n']), [{overlong: 10}, 'ok'])
    // Exactly at the limit is fine, with "\n" or "\r\n", in one chunk or split before the "\n".
    assert.deepEqual(decode(['0123456789\r\n']), ['0123456789'])
    assert.deepEqual(decode(['0123456789\r', '\n']), ['0123456789'])
    assert.deepEqual(decode(['0123456789', '\n']), ['0123456789'])
  })

  it('drops a partial line at the close (stop) and ignores input after it', () => {
    const out: Out = []
    const decoder = decoderInto(out, 100)
    decoder.push(Buffer.from('a\n{"partial":'))
    decoder.stop()
    decoder.push(Buffer.from('1}\nc\n'))
    assert.deepEqual(out, ['a'])
  })

  it('holds input while paused and decodes it, in order, on resume', () => {
    const out: Out = []
    const decoder = decoderInto(out, 100)
    decoder.pause()
    decoder.push(Buffer.from('a\nb'))
    decoder.push(Buffer.from('\n'))
    assert.deepEqual(out, [])
    decoder.resume()
    assert.deepEqual(out, ['a', 'b'])
  })
  it('with onText, the same lines as with onLine alone: any chunking, CRLF, empty and over-long lines, UTF-8, invalid bytes, pauses', () => {
    const lines = ['{"request":"echo","id":1}', '', 'a\r', 'x'.repeat(40), '"é€"', 'é'.repeat(20), '0123456789'.repeat(3), 'bad \u00ff', '{"id":2}', '\r', 'last']
    const stream = Buffer.concat([...lines.map((line) => Buffer.from(line + '\n')), Buffer.from([0x80, 0x41, 0xc3, 0x0a, 0xff, 0x0d, 0x0a]), Buffer.from('tail')])
    let seed = 7
    let asText = 0
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed % n
    }

    const run = (text: boolean, cuts: number[], pauseAt: number): Out => {
      const out: Out = []
      let seen = 0
      const decoder: RelayLineDecoder = new RelayLineDecoder({
        maxLineBytes: 30,
        onLine: (line) => {
          out.push(line.toString())
          if (++seen === pauseAt) decoder.pause()
        },
        onOverlong: (limit) => out.push({overlong: limit}),
        ...(text
          ? {
              onText: (line: string) => {
                asText++
                out.push(line)
                if (++seen === pauseAt) decoder.pause()
              },
            }
          : {}),
      })
      let from = 0
      for (const cut of [...cuts, stream.length]) {
        decoder.push(stream.subarray(from, cut))
        from = cut
      }

      decoder.resume()
      decoder.push(Buffer.from('\n'))
      return out
    }

    for (let round = 0; round < 300; round++) {
      const cuts = [...new Set(Array.from({length: random(8)}, () => random(stream.length)))].sort((a, b) => a - b)
      const pauseAt = random(6)
      assert.deepEqual(run(true, cuts, pauseAt), run(false, cuts, pauseAt), `cuts ${cuts.join(',')}, pause at line ${pauseAt}`)
    }

    assert.ok(asText > 0, 'the text path was taken')
  })
})
