// The relay's response headers as read from undici's raw list: the object, and the JSON text the final
// reply carries, made while reading; it must be exactly JSON.stringify(object), or absent.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {util} from 'undici'
import {parseRawHeaders, useHeaderNames} from '../../../src/core/relay/exchange.js'

const raw = (...pairs: string[]): Buffer[] => pairs.map((text) => Buffer.from(text, 'latin1'))

describe('relay raw headers', () => {
  it('plain headers: lower-case names, and their JSON text made as they are read', () => {
    const {headers, json} = parseRawHeaders(raw('Content-Type', 'application/json', 'Content-Length', '24', 'Date', 'Thu, 03 Dec 2026 19:30:00 GMT', 'X-Latin', 'caf\u00e9'))
    assert.deepEqual(headers, {'content-length': '24', 'content-type': 'application/json', date: 'Thu, 03 Dec 2026 19:30:00 GMT', 'x-latin': 'caf\u00e9'})
    assert.equal(json, JSON.stringify(headers))
    assert.equal(parseRawHeaders([]).json, '{}')
  })

  it('whatever the headers, the text is JSON.stringify of the object, or left to it', () => {
    const cases: Buffer[][] = [
      raw('Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'),
      raw('X-Quote', 'say "hi"', 'X-Back', 'C:\\path'),
      raw('X-Tab', 'a\tb', 'X-Ctl', 'a\u0001b'),
      raw('123', 'digits first', 'x-a', '1'),
      raw('x-a', '1', '9z', 'moved'),
      raw('__proto__', 'dropped', 'x-b', '2'),
      raw('x-high', '\u00ff\u0080\u007f', 'x-empty', ''),
      raw('X-Dup', 'one', 'x-dup', 'two', 'X-DUP', 'three'),
    ]
    for (const pairs of cases) {
      const {headers, json} = parseRawHeaders(pairs)
      const text = json ?? JSON.stringify(headers)
      assert.equal(text, JSON.stringify(headers))
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(headers)))
    }

    assert.deepEqual(parseRawHeaders(raw('Set-Cookie', 'a=1', 'Set-Cookie', 'b=2')).headers, {'set-cookie': ['a=1', 'b=2']})
    assert.equal(parseRawHeaders(raw('X-Quote', 'say "hi"')).json, undefined, 'an escape is left to JSON.stringify')
  })

  it("with undici's table of well-known names (as the runtime sets it), the same headers and text", () => {
    const pairs = raw('Content-Type', 'application/json', 'KEEP-ALIVE', 'timeout=5', 'X-Own-Name', 'v', 'Set-Cookie', 'a', 'set-cookie', 'b', 'Caf\u00e9', 'latin1 name')
    const before = parseRawHeaders(pairs)
    useHeaderNames(util.headerNameToString)
    const after = parseRawHeaders(pairs)
    assert.deepEqual(after, before)
    assert.deepEqual(after.headers['set-cookie'], ['a', 'b'])
    assert.equal(after.headers['caf\u00e9'], 'latin1 name')
  })
})
