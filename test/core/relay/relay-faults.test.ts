// Every bad input and fault the relay issue lists, each against a real relay on 127.0.0.1:0 and a real
// local HTTP(S) upstream: one error line (with the id when there is one), and the connection and every
// other connection keep being served.
import assert from 'node:assert/strict'
import {createServer} from 'node:net'
import {after, before, describe, it} from 'node:test'
import {parseRelayAddress} from '../../../src/core/relay/address.js'
import type {RelayRequestLog} from '../../../src/core/relay/connection.js'
import {type RelayServer, startRelayServer} from '../../../src/core/relay/server.js'
import {LineClient, type Upstream, makeTestCa, relayConfig, startUpstream} from '../../helpers/relay-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'
import {waitFor} from '../../helpers/wait.js'

const isFinal = (id: unknown) => (reply: Record<string, unknown>) => reply.status !== 'dispatched' && JSON.stringify(reply.id) === JSON.stringify(id)

describe('relay: bad input and faults', {skip: skipWithout('openssl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-relay-faults-')
  let upstream: Upstream
  let tlsUpstream: Upstream
  let caPath: string
  let refusedPort: number
  let relay: RelayServer
  let client: LineClient
  const logs: RelayRequestLog[] = []
  let nextId = 1000

  before(async () => {
    upstream = await startUpstream()
    const ca = await makeTestCa(dir())
    caPath = ca.caPath
    tlsUpstream = await startUpstream({cert: ca.cert, key: ca.key})
    // A port that was just free: nothing listens there, so connecting is refused.
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    refusedPort = (probe.address() as {port: number}).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const config = relayConfig({
      max_line_bytes: 4096,
      requests: {
        declared_huge: {method: 'GET', url: `${upstream.origin}/declared-huge`, max_response_bytes: 65_536},
        echo: {method: 'POST', url: `${upstream.origin}/echo`},
        hang: {method: 'GET', url: `${upstream.origin}/hang`, timeout: '300ms'},
        hang_long: {method: 'GET', url: `${upstream.origin}/hang`, timeout: 30},
        huge: {method: 'GET', url: `${upstream.origin}/huge`, max_response_bytes: 65_536},
        refused: {method: 'GET', url: `http://127.0.0.1:${refusedPort}/x`},
        status: {expect: 200, method: 'GET', url: `${upstream.origin}/status/{code}`},
        tls_default: {method: 'GET', url: `${tlsUpstream.origin}/user/{id}`},
        tls_trusted: {ca: caPath, method: 'GET', url: `${tlsUpstream.origin}/user/{id}`},
        user: {method: 'GET', url: `${upstream.origin}/user/{user_id}`},
      },
    })
    relay = await startRelayServer({config, listen: parseRelayAddress('tcp://127.0.0.1:0', 'listen'), onRequest: (entry) => logs.push(entry)})
    client = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
  })

  after(async () => {
    client?.close()
    await relay?.close({drainMs: 1000})
    await upstream?.close()
    await tlsUpstream?.close()
  })

  /** The same connection and a brand-new one both still get a good request through. */
  async function assertStillServing(on: LineClient = client): Promise<void> {
    const id = `alive-${nextId++}`
    on.send({id, params: {user_id: 'a b'}, request: 'user'})
    const reply = await on.final(id)
    assert.equal(reply.status, 'ok', JSON.stringify(reply))
    assert.deepEqual((reply.response as {id: string}).id, 'a b')
    const other = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
    try {
      other.send({id: 'other', params: {user_id: 7}, request: 'user'})
      assert.equal((await other.final('other')).status, 'ok')
    } finally {
      other.close()
    }
  }

  async function rejectedLine(text: string, id: unknown = null): Promise<Record<string, unknown>> {
    const before = client.replies.length
    client.send(text)
    const [reply] = await client.waitFor((r) => client.replies.indexOf(r) >= before && r.status === 'error')
    assert.deepEqual(reply!.id, id)
    assert.equal(client.replies.slice(before).filter((r) => r.status === 'dispatched').length, 0, 'a rejected line is never dispatched')
    return reply!
  }

  it('a line that is not JSON: error with id null', async () => {
    const reply = await rejectedLine('{"request": "user", oops\n')
    assert.match((reply.response as {error: string}).error, /not valid JSON/)
    assert.equal((reply.response as {code: string}).code, 'RW_ERR_RELAY_REQUEST')
    await assertStillServing()
  })

  it('a JSON line that is not an object (an array, a string)', async () => {
    assert.match(((await rejectedLine('[1,2]\n')).response as {error: string}).error, /must be a JSON object.*an array/)
    assert.match(((await rejectedLine('"user"\n')).response as {error: string}).error, /must be a JSON object.*string/)
    await assertStillServing()
  })

  it('a number', async () => {
    assert.match(((await rejectedLine('42\n')).response as {error: string}).error, /got number/)
    await assertStillServing()
  })

  it('null', async () => {
    assert.match(((await rejectedLine('null\n')).response as {error: string}).error, /got null/)
    await assertStillServing()
  })

  it('an unknown request name: error with the id, listing the names the relay knows', async () => {
    const reply = await rejectedLine('{"request": "nope", "id": "u1"}\n', 'u1')
    assert.equal(
      (reply.response as {error: string}).error,
      'unknown request "nope"; the requests are: declared_huge, echo, hang, hang_long, huge, refused, status, tls_default, tls_trusted, user',
    )
    assert.equal((reply.response as {code: string}).code, 'RW_ERR_RELAY_REQUEST')
    await assertStillServing()
  })

  it('a missing placeholder: error with the id, nothing sent upstream', async () => {
    const seen = upstream.seen.length
    const reply = await rejectedLine('{"request": "user", "id": 5, "params": {"other": 1}}\n', 5)
    assert.match((reply.response as {error: string}).error, /missing value for placeholder \{user_id\}/)
    assert.equal(upstream.seen.length, seen)
    const objectValue = await rejectedLine('{"request": "user", "id": 6, "params": {"user_id": {"a": 1}}}\n', 6)
    assert.match((objectValue.response as {error: string}).error, /params.user_id must be a string, number or boolean/)
    await assertStillServing()
  })

  it('an over-long line: one error, the rest of the line skipped, the next line served', async () => {
    const before = client.replies.length
    // Over the 4096-byte limit, in pieces, followed at once by a good line in the same write.
    client.send(`{"request":"echo","id":"big","data":"${'x'.repeat(3000)}`)
    client.send(`${'y'.repeat(3000)}"}\n{"request":"user","id":"after-big","params":{"user_id":1}}\n`)
    const after = await client.final('after-big')
    assert.equal(after.status, 'ok')
    const errors = client.replies.slice(before).filter((r) => r.status === 'error')
    assert.equal(errors.length, 1)
    assert.equal(errors[0]!.id, null)
    assert.equal((errors[0]!.response as {code: string}).code, 'RW_ERR_FRAME_TOO_LARGE')
    await assertStillServing()
  })

  it('bare \\n and \\r\\n line endings (and blank lines) are all accepted', async () => {
    client.send('{"request":"user","id":"lf","params":{"user_id":1}}\n\n\r\n{"request":"user","id":"crlf","params":{"user_id":2}}\r\n')
    assert.equal((await client.final('lf')).status, 'ok')
    assert.deepEqual(((await client.final('crlf')).response as {id: string}).id, '2')
  })

  it('1,000 requests in flight on one connection: 1,000 dispatched, 1,000 answers matched by id', async () => {
    const conn = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
    try {
      const lines = Array.from({length: 1000}, (_, i) => JSON.stringify({data: {i}, id: i, request: 'echo'})).join('\n') + '\n'
      conn.send(lines)
      const finals = await conn.waitFor((r) => r.status !== 'dispatched', 1000)
      assert.equal(conn.replies.filter((r) => r.status === 'dispatched').length, 1000)
      for (const reply of finals) {
        assert.equal(reply.status, 'ok')
        assert.equal(JSON.parse((reply.response as {body: string}).body).i, reply.id)
      }

      assert.deepEqual(new Set(finals.map((r) => r.id)).size, 1000)
      await assertStillServing(conn)
    } finally {
      conn.close()
    }
  })

  it('duplicate ids: both requests run and both answers carry the id', async () => {
    client.send('{"request":"user","id":"dup","params":{"user_id":"first"}}\n{"request":"user","id":"dup","params":{"user_id":"second"}}\n')
    const finals = await client.waitFor(isFinal('dup'), 2)
    assert.deepEqual(finals.map((r) => (r.response as {id: string}).id).sort(), ['first', 'second'])
    await assertStillServing()
  })

  it('the upstream refuses connections: error with the id and RW_ERR_RELAY_UPSTREAM', async () => {
    client.send({id: 'ref', request: 'refused'})
    const reply = await client.final('ref')
    assert.equal(reply.status, 'error')
    assert.equal(reply.http_status, undefined)
    assert.match((reply.response as {error: string}).error, /connection refused/)
    assert.equal((reply.response as {code: string}).code, 'RW_ERR_RELAY_UPSTREAM')
    assert.equal(typeof reply.time, 'number')
    await assertStillServing()
  })

  it('the upstream times out: error with RW_ERR_TIMEOUT, the upstream request is abandoned', async () => {
    const abandoned = upstream.abandoned()
    client.send({id: 'slow', request: 'hang'})
    const reply = await client.final('slow')
    assert.equal(reply.status, 'error')
    assert.equal((reply.response as {code: string}).code, 'RW_ERR_TIMEOUT')
    assert.match((reply.response as {error: string}).error, /within 300 ms/)
    // The relay gave up on the upstream request, so the upstream sees its client go.
    await waitFor(() => upstream.abandoned() !== abandoned, 5000, 'the upstream request to be abandoned')
    await assertStillServing()
  })

  it('a wrong status: error with http_status, headers and the body', async () => {
    client.send({id: 'teapot', params: {code: 418}, request: 'status'})
    const reply = await client.final('teapot')
    assert.equal(reply.status, 'error')
    assert.equal(reply.http_status, 418)
    assert.deepEqual(reply.response, {status: 418})
    assert.equal((reply.headers as Record<string, string>)['x-upstream'], 'test')
    await assertStillServing()
  })

  it('a huge body (chunked, no length): refused at the limit, not buffered', async () => {
    client.send({id: 'huge', request: 'huge'})
    const reply = await client.final('huge')
    assert.equal(reply.status, 'error')
    assert.equal(reply.http_status, 200)
    assert.match((reply.response as {error: string}).error, /over the 65536 byte limit/)
    client.send({id: 'declared', request: 'declared_huge'})
    assert.match(((await client.final('declared')).response as {error: string}).error, /over the 65536 byte limit/)
    await assertStillServing()
  })

  it('HTTPS with an untrusted certificate: error; with its CA configured: ok', async () => {
    client.send({id: 'untrusted', params: {id: 1}, request: 'tls_default'})
    const bad = await client.final('untrusted')
    assert.equal(bad.status, 'error')
    assert.match((bad.response as {error: string}).error, /TLS certificate not trusted/)
    client.send({id: 'trusted', params: {id: 2}, request: 'tls_trusted'})
    const good = await client.final('trusted')
    assert.equal(good.status, 'ok', JSON.stringify(good))
    assert.deepEqual((good.response as {id: string}).id, '2')
    await assertStillServing()
  })

  it('a global "ca" trusts the private CA for every request; an injected dispatcher carries requests without their own "ca"', async () => {
    const {Agent} = await import('undici')
    const agent = new Agent()
    const global = await startRelayServer({
      config: relayConfig({ca: caPath, requests: {plain: {method: 'GET', url: `${upstream.origin}/user/p`}, tls: {method: 'GET', url: `${tlsUpstream.origin}/user/{id}`}}}),
      dispatcher: agent,
      listen: parseRelayAddress('tcp://127.0.0.1:0', 'listen'),
    })
    const conn = await LineClient.connect(parseRelayAddress(global.address, 'listen'))
    try {
      conn.send({id: 'g', params: {id: 'global'}, request: 'tls'})
      const reply = await conn.final('g')
      assert.equal(reply.status, 'error', 'the injected dispatcher has no CA of its own: the private certificate is refused')
      assert.match((reply.response as {error: string}).error, /TLS certificate not trusted/)
      conn.send({id: 'p', request: 'plain'})
      assert.equal((await conn.final('p')).status, 'ok')
      assert.ok(Object.keys(agent.stats).includes(upstream.origin), 'the plain request went through the injected Agent')
    } finally {
      conn.close()
      await global.close()
      await agent.close()
    }

    const own = await startRelayServer({config: relayConfig({ca: caPath, requests: {tls: {method: 'GET', url: `${tlsUpstream.origin}/user/{id}`}}}), listen: parseRelayAddress('tcp://127.0.0.1:0', 'listen')})
    const conn2 = await LineClient.connect(parseRelayAddress(own.address, 'listen'))
    try {
      conn2.send({id: 'o', params: {id: 'global'}, request: 'tls'})
      const reply = await conn2.final('o')
      assert.equal(reply.status, 'ok', JSON.stringify(reply))
      assert.deepEqual((reply.response as {id: string}).id, 'global')
    } finally {
      conn2.close()
      await own.close()
    }
  })

  it('the client vanishes mid-request: the upstream request is cancelled, others go on', async () => {
    const abandoned = upstream.abandoned()
    const leaving = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
    const arrived = upstream.nextHang()
    leaving.send({id: 'gone', request: 'hang_long'})
    await leaving.waitFor((r) => r.status === 'dispatched')
    await arrived
    leaving.close()
    await waitFor(() => upstream.abandoned() !== abandoned, 5000, 'the upstream request to be abandoned')
    assert.equal(upstream.abandoned(), abandoned + 1)
    await assertStillServing()
  })

  it('logged one line per request, with no secret and no body', () => {
    assert.ok(logs.some((entry) => entry.request === 'user' && entry.status === 'ok' && typeof entry.httpStatus === 'number'))
    assert.ok(logs.some((entry) => entry.request === null && entry.code === 'RW_ERR_RELAY_REQUEST'))
    assert.ok(logs.some((entry) => entry.request === 'refused' && entry.code === 'RW_ERR_RELAY_UPSTREAM'))
  })
})
