// The binary EVENT and REPLY metadata (docs/pipe.md, "Wire format"): round trips, the exact bytes of
// one example, and truncated or trailing input refused.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {RestwireError} from '../../../src/core/errors.js'
import {encodeEventMeta, encodeReplyMeta, errorText, eventMetaLength, parseEventMeta, parseHello, parseReplyMeta, parseResetMeta, replyMetaLength, utf8Length} from '../../../src/core/pipe/messages.js'
import {deepJsonText, deepValue} from '../../helpers/hostile.js'

describe('pipe metadata codec', () => {
  it('round-trips EVENT metadata, with and without a content type, with UTF-8 arguments', () => {
    for (const meta of [
      {args: ['hello ', 'wörld', ''], contentType: 'application/json', noun: 'cat', verb: 'GET'},
      {args: [], contentType: undefined, noun: 'time/utc', verb: 'POST'},
      {args: [], contentType: '', noun: 'x', verb: 'PUT'},
    ]) {
      const bytes = encodeEventMeta(meta)
      assert.equal(bytes.length, eventMetaLength(meta))
      assert.deepEqual(parseEventMeta(bytes), meta)
    }

    assert.equal((parseEventMeta(encodeEventMeta({args: [], noun: 'n', verb: 'get'})) as {verb: string}).verb, 'GET')
  })

  it('short ASCII fields (measured, written and read in JS, from the recent-strings table) and others (UTF-8, 64+ chars) round-trip alike', () => {
    const long = 'n'.repeat(64) + 'x'
    const texts = ['', 'a', 'echo', 'wörld', '日本', 'x'.repeat(64), long, 'caf\u00e9', '\u007f\u0001', 'é'.repeat(40)]
    for (const text of texts) assert.equal(utf8Length(text), Buffer.byteLength(text), text)
    // Twice each: the second reading of the same bytes comes from the table. Many distinct nouns of one
    // length collide in its 256 slots: each must still read back as its own bytes.
    const nouns = [...texts.filter((text) => text !== ''), ...Array.from({length: 600}, (_, i) => `n${i}`)]
    for (let round = 0; round < 2; round++) {
      for (const noun of nouns) {
        const meta = {args: [noun, 'ä' + noun], contentType: noun, noun, verb: round === 0 ? 'get' : 'Post'}
        const bytes = encodeEventMeta(meta)
        assert.equal(bytes.length, eventMetaLength(meta))
        assert.deepEqual(parseEventMeta(bytes), {...meta, verb: meta.verb.toUpperCase()})
      }
    }

    // A verb that fails the check right after a valid one is still refused.
    assert.ok(parseEventMeta(encodeEventMeta({args: [], noun: 'n', verb: 'GET'})) instanceof Object)
    assert.ok(parseEventMeta(encodeEventMeta({args: [], noun: 'n', verb: 'G ET'})) instanceof RestwireError)
    assert.ok(parseEventMeta(encodeEventMeta({args: [], noun: 'n', verb: '1GET'})) instanceof RestwireError)
    assert.ok(parseEventMeta(encodeEventMeta({args: [], noun: 'n', verb: ''})) instanceof RestwireError)
  })

  it('reads a field that shares its recent-strings slot (length, first and last byte) as its own bytes, UTF-8 included', () => {
    // 'abcd', 'axyd' and 'a' + 'é' + 'd' (4 bytes) pick the same slot; the last differs from the others
    // after one matching byte and is not ASCII.
    for (const noun of ['abcd', 'axyd', 'abcd', 'a\u00e9d', 'abcd', 'a\u00e9d']) {
      assert.equal((parseEventMeta(encodeEventMeta({args: [], noun, verb: 'GET'})) as {noun: string}).noun, noun)
    }
  })

  it('lays EVENT metadata out as documented', () => {
    const bytes = encodeEventMeta({args: ['a'], contentType: 't/p', noun: 'cat', verb: 'GET'})
    assert.equal(bytes.toString('hex'), '03' + '474554' + '0003' + '636174' + '0001' + '0001' + '61' + '0003' + '742f70')
    assert.equal(encodeEventMeta({args: [], noun: 'n', verb: 'GET'}).subarray(-2).toString('hex'), 'ffff')
  })

  it('round-trips REPLY metadata, negative and large codes included', () => {
    for (const meta of [{code: 0, contentType: 'application/json'}, {code: -1, contentType: ''}, {code: 2 ** 31 - 1, contentType: 'text/plain; charset=utf-8'}]) {
      assert.deepEqual(parseReplyMeta(encodeReplyMeta(meta)), meta)
    }

    assert.equal(encodeReplyMeta({code: 251, contentType: 'a/b'}).toString('hex'), '000000fb' + '0003' + '612f62')
    assert.equal(replyMetaLength({code: 2 ** 31, contentType: ''}), -1)
    assert.equal(replyMetaLength({code: 1.5, contentType: ''}), -1)
  })

  it('refuses truncated, trailing and invalid metadata', () => {
    const event = encodeEventMeta({args: ['a'], contentType: 'x/y', noun: 'cat', verb: 'GET'})
    for (let cut = 0; cut < event.length; cut++) assert.ok(parseEventMeta(event.subarray(0, cut)) instanceof RestwireError, `cut at ${cut}`)
    assert.ok(parseEventMeta(Buffer.concat([event, Buffer.from([0])])) instanceof RestwireError)
    assert.match((parseEventMeta(encodeEventMeta({args: [], noun: '', verb: 'GET'})) as RestwireError).message, /non-empty noun/)
    assert.match((parseEventMeta(encodeEventMeta({args: [], noun: 'x', verb: 'G T'})) as RestwireError).message, /verb made of letters/)
    const reply = encodeReplyMeta({code: 0, contentType: 'a/b'})
    for (let cut = 0; cut < reply.length; cut++) assert.ok(parseReplyMeta(reply.subarray(0, cut)) instanceof RestwireError, `cut at ${cut}`)
    assert.ok(parseReplyMeta(Buffer.from('{"code":0,"contentType":"a/b"}')) instanceof RestwireError)
  })

  it('measures -1 for fields longer than their length prefix', () => {
    assert.equal(eventMetaLength({args: [], noun: 'x', verb: 'G'.repeat(256)}), -1)
    assert.equal(eventMetaLength({args: ['a'.repeat(65_536)], noun: 'x', verb: 'GET'}), -1)
    assert.equal(eventMetaLength({args: [], contentType: 'a'.repeat(65_535), noun: 'x', verb: 'GET'}), -1)
  })

  it("names a peer's deep JSON values by their type: String() of a 32,000-deep array would throw", () => {
    const hello = parseHello(Buffer.from(`{"version":${deepJsonText(32_000)}}`))
    assert.ok(hello instanceof RestwireError)
    assert.match(hello.message, /protocol version of type object/)
    assert.deepEqual(parseResetMeta(Buffer.from(`{"code":${deepJsonText(32_000)},"reason":${deepJsonText(32_000, 'object')}}`)), {code: 502, reason: 'no reason given'})
    assert.equal(errorText(deepValue()), 'an unprintable object')
    assert.equal(errorText(new Error('plain')), 'plain')
  })
})
