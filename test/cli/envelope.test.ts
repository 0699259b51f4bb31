// bodyFromBytes: how a reply's bytes become the envelope's body and bodyEncoding.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {bodyFromBytes} from '../../src/cli/envelope.js'

describe('bodyFromBytes', () => {
  it('parses JSON, keeps text as text, and base64-encodes anything else', () => {
    assert.deepEqual(bodyFromBytes(Buffer.from('{"a":[1]}'), 'application/json; charset=utf-8'), {body: {a: [1]}, bodyEncoding: 'json'})
    assert.deepEqual(bodyFromBytes(Buffer.from('{not json'), 'application/json'), {body: '{not json', bodyEncoding: 'text'})
    assert.deepEqual(bodyFromBytes(Buffer.from('plain wörds'), 'text/plain'), {body: 'plain wörds', bodyEncoding: 'text'})
    assert.deepEqual(bodyFromBytes(Buffer.from('<a/>'), 'application/xml'), {body: '<a/>', bodyEncoding: 'text'})
    // Text by its type but not UTF-8, and bytes of no textual type (even if they happen to be UTF-8): base64.
    assert.deepEqual(bodyFromBytes(Buffer.from([0x66, 0xff, 0x6f]), 'text/plain'), {body: 'Zv9v', bodyEncoding: 'base64'})
    assert.deepEqual(bodyFromBytes(Buffer.from('abc'), 'application/octet-stream'), {body: 'YWJj', bodyEncoding: 'base64'})
    assert.deepEqual(bodyFromBytes(Buffer.alloc(0), 'application/json'), {body: null, bodyEncoding: 'none'})
  })
})
