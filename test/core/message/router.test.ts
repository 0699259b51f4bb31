import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {LazyAbort, invokeHandler} from '../../../src/core/message/invoke.js'
import {type RwRequest, splitResource} from '../../../src/core/message/request.js'
import {Router} from '../../../src/core/message/router.js'

function request(verb: string, resource: string, body: unknown = null, controller = new AbortController()): RwRequest {
  const {path, query} = splitResource(resource)
  return {body, client: {}, params: {}, path, query, resource, signal: controller.signal, verb}
}

describe('Router', () => {
  const router = new Router()
    .route('GET', '/hello', () => ({msg: 'Hello World!'}))
    .route('GET', '/users/:id', (req) => ({id: req.params.id, query: req.query}))
    .route('DELETE', '/users/:id', () => [204, null])
    .route('STORE', '/users', async (req) => [201, req.body])
    .route('GET', '/files/*', (req) => req.params['*'])

  it('matches static and parameterised paths, parses the query', async () => {
    assert.deepEqual(await router.handle(request('GET', '/hello')), {body: {msg: 'Hello World!'}, status: 200})
    assert.deepEqual(await router.handle(request('GET', '/users/a%20b?x=1&x=2&y=3')), {
      body: {id: 'a b', query: {x: ['1', '2'], y: '3'}},
      status: 200,
    })
    assert.deepEqual(await router.handle(request('GET', '/hello/')), {body: {msg: 'Hello World!'}, status: 200})
    assert.deepEqual(await router.handle(request('GET', '/files/a/b.txt')), {body: 'a/b.txt', status: 200})
  })

  it('takes [status, body] from sync and async handlers', async () => {
    assert.deepEqual(await router.handle(request('STORE', '/users', {name: 'ada'})), {body: {name: 'ada'}, status: 201})
    assert.deepEqual(await router.handle(request('DELETE', '/users/7')), {body: null, status: 204})
  })

  it('answers 404 for an unknown path and 405 with the allowed verbs', async () => {
    assert.equal((await router.handle(request('GET', '/nope'))).status, 404)
    const wrongVerb = await router.handle(request('UPDATE', '/users/7'))
    assert.equal(wrongVerb.status, 405)
    assert.deepEqual((wrongVerb.body as {allowed: string[]}).allowed.sort(), ['DELETE', 'GET'])
  })
})

describe('invokeHandler', () => {
  it('turns a throw into 500 with a traceback, or without when tracebacks are off', async () => {
    const failing = new Router().route('GET', '/boom', () => {
      throw new Error('kaboom')
    })
    const withTrace = await invokeHandler(failing.handle, request('GET', '/boom'), () => {})
    assert.equal(withTrace.status, 500)
    assert.equal((withTrace.body as {message: string}).message, 'kaboom')
    assert.match((withTrace.body as {traceback: string}).traceback, /kaboom/)
    const hidden = await invokeHandler(failing.handle, request('GET', '/boom'), () => {}, {tracebacks: false})
    assert.deepEqual(hidden.body, {message: 'kaboom'})
  })

  it('answers 504 when a handler hangs, and aborts its signal', async () => {
    let signal: AbortSignal | undefined
    const hanging = new Router().route('GET', '/hang', (req) => {
      signal = req.signal
      return new Promise(() => {})
    })
    const controller = new AbortController()
    const response = await invokeHandler(hanging.handle, request('GET', '/hang', null, controller), (reason) => controller.abort(reason), {timeoutMs: 50})
    assert.equal(response.status, 504)
    assert.equal(signal?.aborted, true)
  })

  it('answers 499 at once when the caller goes away, without waiting for a hanging handler', async () => {
    const hanging = new Router().route('GET', '/hang', () => new Promise(() => {}))
    const control = new LazyAbort()
    const pending = invokeHandler(hanging.handle, request('GET', '/hang'), control, {timeoutMs: 60_000})
    control.abort(new Error('client gone'))
    assert.equal((await pending).status, 499)
    assert.equal(control.signal.aborted, true, 'a signal asked for later is already aborted')
  })

  it('turns an invalid status into 500', async () => {
    const bad = new Router().route('GET', '/bad', () => [99, 'x'])
    // [99, 'x'] is not a status pair, so it is a 200 body; a handler-made response with a bad status is 500.
    assert.deepEqual(await invokeHandler(bad.handle, request('GET', '/bad'), () => {}), {body: [99, 'x'], status: 200})
    const direct = await invokeHandler(async () => ({body: null, status: 1000}), request('GET', '/x'), () => {})
    assert.equal(direct.status, 500)
  })
})
