import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import zlib from 'node:zlib'
import {type RestwireError} from '../../../src/core/errors.js'
import {encodeGzipMember} from '../../../src/core/framing/gzip-member.js'
import type {KorvRequestLog} from '../../../src/core/korv/channel-session.js'
import type {KorvClient} from '../../../src/core/korv/client.js'
import type {KorvServerEvent} from '../../../src/core/korv/server.js'
import {AuthorizedKeysFile} from '../../../src/core/ssh/authorized-keys.js'
import {type RunningKorv, makeKorvKeys, openRawChannel, startKorv} from '../../helpers/korv-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {waitFor} from '../../helpers/wait.js'

describe('korv server', () => {
  const dir = useTempDir()
  let korv: RunningKorv
  let client: KorvClient
  const logs: KorvRequestLog[] = []
  let aborted = 0
  let slowStarted = 0

  before(async () => {
    const keys = await makeKorvKeys(dir())
    korv = await startKorv(keys, {handlerTimeoutMs: 300, maxMessageBytes: 64 * 1024, tracebacks: true, onRequest: (entry) => logs.push(entry)}, (server) =>
      server
        .route('GET', '/hello', () => ({msg: 'Hello World!'}))
        .route('GET', '/users/:id', (req) => ({id: req.params.id, query: req.query}))
        .route('STORE', '/users', (req) => [201, req.body])
        .route('GET', '/boom', () => {
          throw new Error('kaboom')
        })
        .route('GET', '/hang', () => new Promise(() => {}))
        .route('GET', '/slow', (req) => {
          slowStarted++
          req.signal.addEventListener('abort', () => aborted++)
          return new Promise((resolve) => setTimeout(() => resolve({slow: true}), Number(req.query.ms ?? 100)))
        })
        .route('GET', '/delay/:n', async (req) => {
          await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 5)))
          return {n: Number(req.params.n)}
        }),
    )
    client = await korv.connect()
  })
  after(async () => {
    await client?.close()
    await korv?.handle.close({drainMs: 100})
  })

  it('answers a request with status and body, and logs it with the client fingerprint', async () => {
    const response = await client.request('GET', '/hello')
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, {msg: 'Hello World!'})
    const entry = logs.find((log) => log.path === '/hello')
    assert.ok(entry)
    assert.equal(entry.fingerprint, korv.keys.clientKey.fingerprint)
    assert.equal(entry.code, 200)
  })

  it('routes parameters, query strings, STORE bodies; accepts POST as STORE', async () => {
    assert.deepEqual((await client.request('GET', '/users/42?full=1')).body, {id: '42', query: {full: '1'}})
    const stored = await client.request('POST', '/users', {name: 'ada'})
    assert.equal(stored.status, 201)
    assert.deepEqual(stored.body, {name: 'ada'})
  })

  it('answers 404 for an unknown resource and 405 with the allowed verbs', async () => {
    assert.equal((await client.request('GET', '/nope')).status, 404)
    const wrong = await client.request('DELETE', '/hello')
    assert.equal(wrong.status, 405)
    assert.deepEqual((wrong.body as {allowed: string[]}).allowed, ['GET'])
  })

  it('answers 500 with a traceback when a handler throws', async () => {
    const response = await client.request('GET', '/boom')
    assert.equal(response.status, 500)
    assert.equal((response.body as {message: string}).message, 'kaboom')
    assert.match((response.body as {traceback: string}).traceback, /Error: kaboom/)
  })

  it('answers 504 when a handler hangs, and keeps serving', async () => {
    const [hung, hello] = await Promise.all([client.request('GET', '/hang'), client.request('GET', '/hello')])
    assert.equal(hung.status, 504)
    assert.equal(hello.status, 200)
  })

  it('keeps 1,000 requests in flight on one channel and pairs every response', async () => {
    const responses = await Promise.all(Array.from({length: 1000}, (_, n) => client.request('GET', `/delay/${n}`)))
    responses.forEach((response, n) => {
      assert.equal(response.status, 200)
      assert.deepEqual(response.body, {n})
    })
  })

  it('decodes a request split over many packets and several requests in one packet', async () => {
    const raw = await openRawChannel(korv.port, korv.keys.clientKey)
    const member = encodeGzipMember(Buffer.from(JSON.stringify({body: 'x'.repeat(5000), id: 1, resource: '/users', verb: 'STORE'})))
    for (let at = 0; at < member.length; at += 7) raw.channel.write(member.subarray(at, at + 7))
    const burst = [2, 3, 4].map((id) => zlib.gzipSync(JSON.stringify({body: null, id, resource: '/hello', verb: 'GET'})))
    raw.channel.write(Buffer.concat(burst))
    const responses = await raw.waitFor(4)
    assert.deepEqual(responses.map((r) => r.request_id).sort(), [1, 2, 3, 4])
    assert.equal(responses.find((r) => r.request_id === 1)?.body, 'x'.repeat(5000))
    raw.end()
  })

  it('answers 400 to valid gzip holding invalid JSON or a request missing fields, and keeps the channel', async () => {
    const raw = await openRawChannel(korv.port, korv.keys.clientKey)
    raw.channel.write(zlib.gzipSync('{not json'))
    raw.send({resource: '/hello', verb: 'GET'})
    raw.send({id: 'abc', resource: '/hello'})
    raw.send({id: 'def', verb: 'GET'})
    raw.send({id: 'ghi', resource: '/hello', verb: 'FETCH'})
    raw.send([1, 2])
    raw.send({id: 'ok', resource: '/hello', verb: 'GET'})
    const responses = await raw.waitFor(7)
    assert.deepEqual(
      responses.map((r) => [r.request_id, r.code]),
      [[0, 400], [0, 400], ['abc', 400], ['def', 400], ['ghi', 400], [0, 400], ['ok', 200]],
    )
    raw.end()
  })

  it('closes only the channel that sent corrupt gzip, after a final error; other clients are unaffected', async () => {
    const bad = await openRawChannel(korv.port, korv.keys.clientKey)
    bad.channel.write(Buffer.from('this is not gzip at all'))
    await bad.closed
    assert.equal(bad.responses[0]?.code, 400)
    assert.equal(bad.responses[0]?.request_id, 0)
    assert.equal((await client.request('GET', '/hello')).status, 200)
    bad.end()
  })

  it('closes the channel of a message over the size limit with 413', async () => {
    const big = await openRawChannel(korv.port, korv.keys.clientKey)
    big.send({body: 'y'.repeat(100 * 1024), id: 9, resource: '/users', verb: 'STORE'})
    await big.closed
    assert.equal(big.responses[0]?.code, 413)
    assert.equal((await client.request('GET', '/hello')).status, 200)
    big.end()
  })

  it('serves NDJSON on the korv subsystem', async () => {
    const raw = await openRawChannel(korv.port, korv.keys.clientKey, 'ndjson')
    raw.send({body: null, id: 1, resource: '/hello', verb: 'GET'})
    raw.channel.write('not json\n')
    const responses = await raw.waitFor(2)
    assert.deepEqual(responses[0]?.body, {msg: 'Hello World!'})
    assert.deepEqual([responses[1]?.request_id, responses[1]?.code], [0, 400])
    raw.end()
  })

  it('aborts the handler of a client that disconnects mid-request and keeps serving', async () => {
    const leaving = await korv.connect()
    const started = slowStarted
    const pending = leaving.request('GET', '/slow?ms=200').catch((error: RestwireError) => error)
    await waitFor(() => slowStarted > started, 5000, 'the /slow handler to start')
    await leaving.close()
    assert.equal(((await pending) as RestwireError).code, 'RW_ERR_CLOSED')
    await waitFor(() => aborted === 1, 5000, 'the /slow handler to be aborted')
    assert.equal((await client.request('GET', '/hello')).status, 200)
  })
})

describe('korv server limits and shutdown', () => {
  const dir = useTempDir()

  it('answers 503 beyond max in-flight requests per connection', async (t) => {
    const keys = await makeKorvKeys(dir())
    const korv = await startKorv(keys, {maxInFlight: 2}, (server) => server.route('GET', '/slow', () => new Promise((resolve) => setTimeout(() => resolve(1), 100))))
    t.after(() => korv.handle.close({drainMs: 0}))
    const client = await korv.connect()
    t.after(() => client.close())
    const statuses = (await Promise.all([1, 2, 3, 4].map(() => client.request('GET', '/slow')))).map((r) => r.status)
    assert.deepEqual(statuses.sort(), [200, 200, 503, 503])
  })

  it('closes a connection idle past --idle-timeout, but not while a request is in flight', async (t) => {
    const keys = await makeKorvKeys(dir())
    const events: string[] = []
    const korv = await startKorv(keys, {idleTimeoutMs: 150, onEvent: (event) => events.push(event.type)}, (server) =>
      server.route('GET', '/slow', () => new Promise((resolve) => setTimeout(() => resolve('done'), 400))),
    )
    t.after(() => korv.handle.close({drainMs: 0}))
    const client = await korv.connect()
    t.after(() => client.close())
    assert.equal((await client.request('GET', '/slow')).body, 'done', 'a request longer than the idle timeout completes')
    await waitFor(() => events.includes('idle-timeout'), 5000, 'an idle-timeout event')
    await assert.rejects(client.request('GET', '/slow'), (error: RestwireError) => error.code === 'RW_ERR_CLOSED')
    assert.deepEqual(events, ['idle-timeout'])
  })

  it('maps route verb aliases (POST → STORE) and tells a client why an oversized request closed its channel', async () => {
    const keys = await makeKorvKeys(dir())
    const korv = await startKorv(keys, {maxMessageBytes: 1024}, (server) => server.route('POST', '/items', (req) => [201, req.body]))
    const client = await korv.connect()
    try {
      assert.equal((await client.request('STORE', '/items', {a: 1})).status, 201)
      assert.throws(() => korv.server.route('FETCH', '/x', () => null), (error: RestwireError) => error.code === 'RW_ERR_CONFIG')
      await assert.rejects(client.request('STORE', '/items', 'z'.repeat(4096)), (error: RestwireError) => error.code === 'RW_ERR_FRAME_TOO_LARGE' && /1024 byte limit/.test(error.message))
    } finally {
      await client.close()
      await korv.handle.close()
    }
  })

  it('enforces from= on authorized keys: the client address must match', async () => {
    const keys = await makeKorvKeys(dir())
    const {readFile, writeFile} = await import('node:fs/promises')
    const line = (await readFile(keys.authorizedKeysPath, 'utf8')).trim()
    await writeFile(keys.authorizedKeysPath, `from="10.0.0.0/8" ${line}\n`)
    const events: string[] = []
    // recheckMs 0: the server sees the edit below at once.
    const authorizedKeys = await AuthorizedKeysFile.open(keys.authorizedKeysPath, {recheckMs: 0})
    const onEvent = (event: KorvServerEvent): void => void events.push(event.type === 'auth-rejected' ? event.reason : event.type)
    const korv = await startKorv(keys, {authorizedKeys, onEvent}, (server) => server.route('GET', '/hello', () => 'hi'))
    try {
      await assert.rejects(korv.connect(), (error: RestwireError) => error.code === 'RW_ERR_AUTH')
      assert.match(events.join('\n'), /limited to from="10.0.0.0\/8", and the client is 127.0.0.1/)
      await writeFile(keys.authorizedKeysPath, `from="127.0.0.1,::1" ${line}\n`)
      const client = await korv.connect()
      assert.equal((await client.request('GET', '/hello')).body, 'hi')
      await client.close()
    } finally {
      await korv.handle.close()
    }
  })

  it('hides tracebacks when asked', async (t) => {
    const keys = await makeKorvKeys(dir())
    const korv = await startKorv(keys, {tracebacks: false}, (server) =>
      server.route('GET', '/boom', () => {
        throw new Error('secret detail')
      }),
    )
    t.after(() => korv.handle.close({drainMs: 0}))
    const client = await korv.connect()
    t.after(() => client.close())
    assert.deepEqual((await client.request('GET', '/boom')).body, {message: 'secret detail'})
  })

  it('drains in-flight requests on close, then refuses new connections', async (t) => {
    const keys = await makeKorvKeys(dir())
    let started = false
    const korv = await startKorv(keys, {}, (server) =>
      server.route('GET', '/slow', () => {
        started = true
        return new Promise((resolve) => setTimeout(() => resolve('done'), 150))
      }),
    )
    t.after(() => korv.handle.close({drainMs: 0}))
    const client = await korv.connect()
    t.after(() => client.close())
    const pending = client.request('GET', '/slow')
    await waitFor(() => started, 5000, 'the /slow handler to start')
    const closing = korv.handle.close({drainMs: 5000})
    const response = await pending
    assert.deepEqual([response.status, response.body], [200, 'done'])
    await closing
    await assert.rejects(korv.connect(), (error: RestwireError) => error.code === 'RW_ERR_CONNECT')
  })
})
