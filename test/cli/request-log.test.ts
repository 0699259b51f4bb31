// escapeControl: text without control characters comes back as it is (the scan's fast path); C0, DEL
// and C1 controls anywhere in it become \xNN, so a peer's name cannot forge log lines or drive a terminal.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {escapeControl} from '../../src/cli/request-log.js'

describe('request log escaping', () => {
  it('leaves clean text alone and escapes C0, DEL and C1 controls wherever they are', () => {
    for (const clean of ['', 'echo', 'id=17', 'wörld 日本 ~', '\u00a0 after C1', ' '.repeat(200)]) assert.equal(escapeControl(clean), clean)
    assert.equal(escapeControl('\u0000a'), '\\x00a')
    assert.equal(escapeControl('a\r\nb'), 'a\\x0d\\x0ab')
    assert.equal(escapeControl('x\u001b[2J'), 'x\\x1b[2J')
    assert.equal(escapeControl('del\u007f'), 'del\\x7f')
    assert.equal(escapeControl('c1 \u0080 \u009f'), 'c1 \\x80 \\x9f')
    assert.equal(escapeControl('ok'.repeat(100) + '\n'), 'ok'.repeat(100) + '\\x0a')
  })
})
