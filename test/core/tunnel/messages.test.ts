import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {canonicalRequestType, parseTunnelRequest, parseTunnelResponse, readTunnelResponse, tunnelRequest} from '../../../src/core/tunnel/messages.js'

const full = {data: null, id: 'u1', kwargs: {}, params: null, request_type: 'GET', router: '/home'}

describe('tunnel messages', () => {
  it('parses a full request; UPDATE is PATCH, verbs are case-insensitive', () => {
    assert.deepEqual(parseTunnelRequest(JSON.stringify(full)), {ok: true, request: full})
    const update = parseTunnelRequest(JSON.stringify({...full, request_type: 'update'}))
    assert.ok(update.ok && update.request.request_type === 'PATCH')
    assert.equal(canonicalRequestType('stream'), 'STREAM')
    assert.equal(canonicalRequestType('PUT'), undefined)
  })

  it('refuses bad requests with the id when it can be read, else 0', () => {
    assert.equal((parseTunnelRequest('nope') as {requestId: unknown}).requestId, 0)
    assert.equal((parseTunnelRequest('[1]') as {requestId: unknown}).requestId, 0)
    assert.equal((parseTunnelRequest(JSON.stringify({...full, id: 0})) as {requestId: unknown}).requestId, 0)
    const {kwargs: _kwargs, ...withoutKwargs} = full
    assert.deepEqual(parseTunnelRequest(JSON.stringify(withoutKwargs)), {error: 'missing key "kwargs"', ok: false, requestId: 'u1'})
    assert.equal((parseTunnelRequest(JSON.stringify({...full, request_type: 'FETCH'})) as {requestId: unknown}).requestId, 'u1')
    assert.equal(parseTunnelRequest(JSON.stringify({...full, router: null})).ok, false)
    assert.equal(parseTunnelRequest(JSON.stringify({...full, params: [1]})).ok, false)
    assert.equal(parseTunnelRequest(JSON.stringify({...full, request_type: 'IDENTIFY', router: null})).ok, true)
  })

  it('builds requests with all six keys and unique uuid ids', () => {
    const a = tunnelRequest('IDENTIFY', null)
    const b = tunnelRequest('GET', '/x', {y: 1}, {k: 'v'})
    assert.deepEqual(Object.keys(a).sort(), ['data', 'id', 'kwargs', 'params', 'request_type', 'router'])
    assert.match(String(a.id), /^[0-9a-f-]{36}$/)
    assert.notEqual(a.id, b.id)
    assert.deepEqual(b.params, {k: 'v'})
  })

  it('reads responses and ignores what is not one', () => {
    assert.deepEqual(parseTunnelResponse('{"id":"a","request_id":"b","ssh_response_code":200,"response":{"x":1}}'), {id: 'a', request_id: 'b', response: {x: 1}, ssh_response_code: 200})
    assert.equal(parseTunnelResponse('{"request_id":"b"}'), undefined)
    assert.equal(parseTunnelResponse('garbage'), undefined)
  })

  it('an invalid status is refused with the request id, so that its request fails at once', () => {
    for (const code of ['"200"', '200.5', '99', '600', 'null']) {
      const read = readTunnelResponse(`{"id":"a","request_id":"b","ssh_response_code":${code},"response":1}`)
      assert.equal(read.ok, false, code)
      assert.equal(!read.ok && read.requestId, 'b', code)
      assert.match(!read.ok ? read.error : '', /ssh_response_code/)
    }

    assert.deepEqual(readTunnelResponse('{"ssh_response_code":200}'), {error: 'missing or invalid "request_id"', ok: false})
    assert.equal(parseTunnelResponse('{"id":"a","request_id":"b","ssh_response_code":"200","response":1}'), undefined)
  })
})
