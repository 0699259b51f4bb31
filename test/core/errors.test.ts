// The typed errors of core/errors.ts: each subclass is a RestwireError of one code, with typed fields,
// and its JSON document is the one the base class made before the subclasses existed.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {
  ERROR_CATALOGUE,
  FrameCorruptError,
  PeerGoneError,
  RestwireError,
  StatusError,
  TimeoutError,
  errorForCode,
  isRestwireError,
} from '../../src/core/errors.js'

/** What the error serialises to, as `--json` and the gateways write it. */
const json = (error: RestwireError): string => JSON.stringify(error)

describe('typed errors', () => {
  it('StatusError: the code follows the status; status and body are typed; JSON as before', () => {
    const error = new StatusError(503, 'GET /x failed with 503: down', {body: {error: 'down'}})
    assert.ok(error instanceof StatusError && error instanceof RestwireError && error instanceof Error)
    assert.equal(error.code, 'RW_ERR_REMOTE_5XX')
    assert.equal(error.exitCode, ERROR_CATALOGUE.RW_ERR_REMOTE_5XX.exitCode)
    assert.equal(error.status, 503)
    assert.deepEqual(error.body, {error: 'down'})
    assert.deepEqual(error.details, {body: {error: 'down'}, status: 503})
    const before = new RestwireError('RW_ERR_REMOTE_5XX', 'GET /x failed with 503: down', {details: {body: {error: 'down'}, status: 503}})
    assert.equal(json(error), json(before))
    assert.equal(json(error), '{"code":"RW_ERR_REMOTE_5XX","message":"GET /x failed with 503: down","exitCode":9,"body":{"error":"down"},"status":503}')

    const notFound = new StatusError(404, 'nope')
    assert.equal(notFound.code, 'RW_ERR_REMOTE_4XX')
    assert.equal(notFound.exitCode, 8)
    assert.equal(json(notFound), '{"code":"RW_ERR_REMOTE_4XX","message":"nope","exitCode":8,"status":404}')
  })

  it('TimeoutError: RW_ERR_TIMEOUT with its hint, the bound as timeoutMs (not in the JSON), an optional status', () => {
    const error = new TimeoutError('no answer to GET /x within 50 ms', {status: 504, timeoutMs: 50})
    assert.ok(error instanceof TimeoutError && error instanceof RestwireError)
    assert.ok(isRestwireError(error, 'RW_ERR_TIMEOUT'))
    assert.equal(error.exitCode, 7)
    assert.equal(error.hint, ERROR_CATALOGUE.RW_ERR_TIMEOUT.hint)
    assert.equal(error.timeoutMs, 50)
    assert.equal(error.status, 504)
    assert.equal(json(error), json(new RestwireError('RW_ERR_TIMEOUT', 'no answer to GET /x within 50 ms', {details: {status: 504}})))
    assert.doesNotMatch(json(error), /timeoutMs/)

    const handshake = new TimeoutError('no SSH handshake', {hint: 'Raise --connect-timeout.', timeoutMs: 10})
    assert.equal(handshake.status, undefined)
    assert.equal(json(handshake), '{"code":"RW_ERR_TIMEOUT","message":"no SSH handshake","exitCode":7,"hint":"Raise --connect-timeout."}')
  })

  it('PeerGoneError: RW_ERR_CLOSED, exit 3, the status a gateway answers (503 or a RESET code)', () => {
    const error = new PeerGoneError('node "a" is not connected', {status: 503})
    assert.ok(error instanceof PeerGoneError && error instanceof RestwireError)
    assert.equal(error.code, 'RW_ERR_CLOSED')
    assert.equal(error.exitCode, 3)
    assert.equal(error.status, 503)
    assert.equal(json(error), json(new RestwireError('RW_ERR_CLOSED', 'node "a" is not connected', {details: {status: 503}})))
    const plain = new PeerGoneError('the SSH connection closed')
    assert.equal(plain.details, undefined)
    assert.equal(json(plain), json(new RestwireError('RW_ERR_CLOSED', 'the SSH connection closed')))
  })

  it('FrameCorruptError: RW_ERR_FRAME_CORRUPT, exit 11, with its cause', () => {
    const cause = new Error('incorrect header check')
    const error = new FrameCorruptError('corrupt deflate data', {cause})
    assert.ok(error instanceof FrameCorruptError && error instanceof RestwireError)
    assert.equal(error.code, 'RW_ERR_FRAME_CORRUPT')
    assert.equal(error.exitCode, 11)
    assert.equal(error.cause, cause)
    assert.equal(json(error), '{"code":"RW_ERR_FRAME_CORRUPT","message":"corrupt deflate data","exitCode":11}')
  })

  it('keeps the name RestwireError, so tracebacks and logs read as before', () => {
    for (const error of [new StatusError(500, 'x'), new TimeoutError('x'), new PeerGoneError('x'), new FrameCorruptError('x')]) {
      assert.equal(error.name, 'RestwireError')
      assert.equal(String(error), 'RestwireError: x')
    }
  })

  it('a status given the old way, in details, is typed too; details stay as given', () => {
    const error = new RestwireError('RW_ERR_USAGE', 'bad path', {details: {status: 400}})
    assert.equal(error.status, 400)
    assert.deepEqual(error.details, {status: 400})
    assert.equal(new RestwireError('RW_ERR_USAGE', 'x', {details: {status: 'no'}}).status, undefined)
    // The new way writes details.status last, where the old call sites had it.
    const unknown = new RestwireError('RW_ERR_NODE_UNKNOWN', 'no node', {details: {connected: ['a'], nodeId: 'b'}, status: 404})
    assert.equal(json(unknown), json(new RestwireError('RW_ERR_NODE_UNKNOWN', 'no node', {details: {connected: ['a'], nodeId: 'b', status: 404}})))
  })

  it('errorForCode gives the class of a code known at run time', () => {
    assert.ok(errorForCode('RW_ERR_TIMEOUT', 'x') instanceof TimeoutError)
    assert.ok(errorForCode('RW_ERR_CLOSED', 'x', {status: 503}) instanceof PeerGoneError)
    assert.ok(errorForCode('RW_ERR_FRAME_CORRUPT', 'x') instanceof FrameCorruptError)
    const tooLarge = errorForCode('RW_ERR_FRAME_TOO_LARGE', 'x')
    assert.equal(tooLarge.constructor, RestwireError)
    assert.equal(tooLarge.code, 'RW_ERR_FRAME_TOO_LARGE')
  })
})
