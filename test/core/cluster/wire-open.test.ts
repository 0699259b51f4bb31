// The open message between hubs (wire.ts): its strings are written straight into the message, measured
// as UTF-8 first. Round trips with multi-byte text in every field, and the bounds of each length prefix.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {OpenBody, decodeOpen, encodeOpen} from '../../../src/core/cluster/wire.js'

describe('cluster wire: open', () => {
  it('round-trips every field, multi-byte text included, with each kind of body', () => {
    const meta = {args: ['ünï', '', 'a/b c', '日本'], contentType: 'text/plain; charset=utf-8 ✓', hub: 'hüb-1', noun: 'tïme/utc', timeoutMs: 12_345.5, verb: 'PÖST'}
    const inline = Buffer.from('{"msg":"héllo"}')
    for (const body of [inline, 'stream', undefined] as const) {
      const {meta: decoded, inline: got} = decodeOpen(encodeOpen(meta, body))
      assert.deepEqual({...decoded}, {...meta, body: body === undefined ? OpenBody.none : body === 'stream' ? OpenBody.stream : OpenBody.inline})
      assert.deepEqual(got, body === inline ? inline : undefined)
    }
  })

  it('keeps "no content type" apart from an empty one', () => {
    const base = {args: [], hub: 'h', noun: 'n', timeoutMs: 1, verb: 'GET'}
    assert.equal(decodeOpen(encodeOpen(base, undefined)).meta.contentType, undefined)
    assert.equal(decodeOpen(encodeOpen({...base, contentType: ''}, undefined)).meta.contentType, '')
  })

  it('refuses a field longer than its length prefix, counted in UTF-8 bytes, not characters', () => {
    const base = {args: [], hub: 'h', noun: 'n', timeoutMs: 1, verb: 'GET'}
    // 128 characters, 256 bytes: over the u8 prefix of the verb and the hub id.
    assert.throws(() => encodeOpen({...base, verb: 'é'.repeat(128)}, undefined), /the verb is too long .* \(256 bytes\)/)
    assert.throws(() => encodeOpen({...base, hub: 'é'.repeat(128)}, undefined), /the hub id is too long/)
    assert.throws(() => encodeOpen({...base, noun: 'x'.repeat(0x1_00_00)}, undefined), /the noun is too long/)
    assert.throws(() => encodeOpen({...base, contentType: 'x'.repeat(0xff_ff)}, undefined), /the content type is too long/)
    // At the bound: accepted, and read back whole.
    assert.equal(decodeOpen(encodeOpen({...base, verb: 'é'.repeat(127) + 'x'}, undefined)).meta.verb, 'é'.repeat(127) + 'x')
  })
})
