// The call commands' exit codes from a peer's answer (docs/errors.md): the status rule and its pipe and relay uses.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {exitCodeForPipeReply, exitCodeForRelayReply, exitCodeForStatus} from '../../src/cli/exit-codes.js'

describe('exit codes from answers', () => {
  it('maps a status: 0 below 400, 8 for 4xx, 9 for 5xx', () => {
    for (const status of [100, 200, 201, 204, 302, 399]) assert.equal(exitCodeForStatus(status), 0, String(status))
    for (const status of [400, 404, 413, 429, 499]) assert.equal(exitCodeForStatus(status), 8, String(status))
    for (const status of [500, 502, 503, 504, 599]) assert.equal(exitCodeForStatus(status), 9, String(status))
  })

  it('maps a pipe reply: the gateway status first, then the event code', () => {
    assert.equal(exitCodeForPipeReply(404, null), 8)
    assert.equal(exitCodeForPipeReply(503, null), 9)
    assert.equal(exitCodeForPipeReply(504, 0), 9)
    assert.equal(exitCodeForPipeReply(200, null), 0)
    assert.equal(exitCodeForPipeReply(200, 0), 0)
    assert.equal(exitCodeForPipeReply(200, 251), 9, 'the handler raised')
    assert.equal(exitCodeForPipeReply(200, 500), 9)
    assert.equal(exitCodeForPipeReply(200, 599), 9)
    assert.equal(exitCodeForPipeReply(200, 255), 8, 'no handler')
    assert.equal(exitCodeForPipeReply(200, 1), 8)
    assert.equal(exitCodeForPipeReply(200, 600), 8)
    assert.equal(exitCodeForPipeReply(200, -1), 8)
  })

  it('maps a relay reply: its RW_ERR_* code, else its HTTP status, else 13', () => {
    assert.equal(exitCodeForRelayReply({id: 1, status: 'ok', http_status: 200, response: {}}), 0)
    assert.equal(exitCodeForRelayReply({id: 1, status: 'error', response: {code: 'RW_ERR_TIMEOUT'}}), 7)
    assert.equal(exitCodeForRelayReply({id: 1, status: 'error', response: {code: 'RW_ERR_USAGE'}}), 2)
    assert.equal(exitCodeForRelayReply({id: 1, status: 'error', http_status: 503, response: {code: 'RW_ERR_REMOTE_5XX'}}), 9)
    // A relay that sends no code (txhttprelay): by the status; an unexpected status below 400 is a failure too.
    assert.equal(exitCodeForRelayReply({id: 1, status: 'error', http_status: 502, response: {}}), 9)
    assert.equal(exitCodeForRelayReply({id: 1, status: 'error', http_status: 404, response: null}), 8)
    assert.equal(exitCodeForRelayReply({id: 1, status: 'error', http_status: 302, response: {code: 'NOT_OURS'}}), 8)
    assert.equal(exitCodeForRelayReply({id: 1, status: 'error', response: null}), 13)
  })
})
