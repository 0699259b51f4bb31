// Relay features against a real relay and a real local HTTP upstream: templates (placeholders, query,
// headers, auth from the environment, JSON and form bodies), expected statuses, retries, redirects,
// UNIX sockets (mode, stale and live files), reload and drain.
import assert from 'node:assert/strict'
import {lstatSync, statSync, writeFileSync} from 'node:fs'
import {execFileSync} from 'node:child_process'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {parseRelayAddress} from '../../../src/core/relay/address.js'
import {type RelayServer, startRelayServer} from '../../../src/core/relay/server.js'
import {LineClient, type Upstream, relayConfig, startUpstream} from '../../helpers/relay-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout, tool} from '../../helpers/tools.js'

const TCP = parseRelayAddress('tcp://127.0.0.1:0', 'listen')
const ENV = {API_KEY: 'key-123', API_PASSWORD: 'pa:ss', API_TOKEN: 'tok-456'}

describe('relay: templates, statuses, retries, redirects', {timeout: 60_000}, () => {
  let upstream: Upstream
  let relay: RelayServer
  let client: LineClient

  before(async () => {
    upstream = await startUpstream()
    const o = upstream.origin
    const config = relayConfig({
      requests: {
        blob: {max_response_bytes: 1_000_000, method: 'GET', url: `${o}/blob/{kib}`},
        basic: {auth: {password_env: 'API_PASSWORD', type: 'basic', username: 'bot'}, method: 'GET', url: `${o}/user/basic`},
        create: {expect: [200, 201], method: 'POST', url: `${o}/echo`},
        flaky: {method: 'GET', retries: 2, retry_backoff: '10ms', url: `${o}/flaky/{key}`},
        flaky_once: {method: 'GET', url: `${o}/flaky/{key}`},
        form: {body: 'form', method: 'PUT', url: `${o}/echo`},
        head: {method: 'HEAD', url: `${o}/user/x`},
        moved: {method: 'GET', url: `${o}/redirect`},
        moved_follow: {method: 'GET', redirects: 2, url: `${o}/redirect`},
        text: {method: 'GET', url: `${o}/text`},
        user: {
          auth: {token_env: 'API_TOKEN', type: 'bearer'},
          headers: {'X-Api-Key': {env: 'API_KEY'}, 'X-Client': 'relay-test'},
          method: 'GET',
          query: {format: 'json', who: '{user_id}'},
          url: `${o}/user/{user_id}?v=1`,
        },
      },
    }, ENV)
    relay = await startRelayServer({config, listen: TCP})
    client = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
  })

  after(async () => {
    client?.close()
    await relay?.close({drainMs: 1000})
    await upstream?.close()
  })

  const last = (): (typeof upstream.seen)[number] => upstream.seen.at(-1)!

  it('dispatched first, then ok with time, response, http_status and headers; params URL-encoded in path and query', async () => {
    client.send({id: {nested: ['id']}, params: {user_id: 'a/b c&d'}, request: 'user'})
    const final = await client.final({nested: ['id']})
    const mine = client.replies.filter((r) => JSON.stringify(r.id) === '{"nested":["id"]}')
    assert.deepEqual(mine.map((r) => r.status), ['dispatched', 'ok'])
    assert.equal(final.http_status, 200)
    assert.equal((final.headers as Record<string, string>)['content-type'], 'application/json')
    assert.ok(typeof final.time === 'number' && final.time > 0)
    // Seconds to 4 decimals, as docs/relay.md shows them (a plain JSON number, as txhttprelay writes it).
    assert.match(String(final.time), /^\d+(\.\d{1,4})?$/)
    assert.deepEqual(final.response, {id: 'a/b c&d', method: 'GET', query: {format: 'json', v: '1', who: 'a/b c&d'}})
    assert.equal(last().url, '/user/a%2Fb%20c%26d?v=1&format=json&who=a%2Fb%20c%26d')
    assert.equal(last().headers.authorization, 'Bearer tok-456')
    assert.equal(last().headers['x-api-key'], 'key-123')
    assert.equal(last().headers['x-client'], 'relay-test')
  })

  it('basic auth from a username and a password variable', async () => {
    client.send({id: 'b', request: 'basic'})
    assert.equal((await client.final('b')).status, 'ok')
    assert.equal(last().headers.authorization, `Basic ${Buffer.from('bot:pa:ss').toString('base64')}`)
  })

  it('a JSON body, and any status of an "expect" list is ok', async () => {
    client.send({data: {name: 'ada', tags: [1, 2]}, id: 'c', request: 'create'})
    const reply = await client.final('c')
    assert.equal(reply.status, 'ok')
    assert.deepEqual(reply.response, {body: '{"name":"ada","tags":[1,2]}', contentType: 'application/json', method: 'POST'})
  })

  it('a form body; data that is not an object is rejected for a form request', async () => {
    client.send({data: {a: 'x y', n: 2}, id: 'f', request: 'form'})
    assert.deepEqual((await client.final('f')).response, {body: 'a=x+y&n=2', contentType: 'application/x-www-form-urlencoded', method: 'PUT'})
    client.send({data: [1], id: 'f2', request: 'form'})
    const rejected = await client.final('f2')
    assert.equal(rejected.status, 'error')
    assert.match((rejected.response as {error: string}).error, /must be an object/)
  })

  it('a GET with data is rejected, not sent', async () => {
    const seen = upstream.seen.length
    client.send({data: {x: 1}, id: 'g', params: {user_id: 1}, request: 'user'})
    assert.match(((await client.final('g')).response as {error: string}).error, /is a GET and takes no "data"/)
    assert.equal(upstream.seen.length, seen)
  })

  it('retries an idempotent request on 503 with backoff; without retries the 503 is the answer', async () => {
    client.send({id: 'r', params: {key: 'with-retries'}, request: 'flaky'})
    const retried = await client.final('r')
    assert.equal(retried.status, 'ok')
    assert.deepEqual(retried.response, {attempt: 3})
    client.send({id: 'r0', params: {key: 'no-retries'}, request: 'flaky_once'})
    const once = await client.final('r0')
    assert.equal(once.status, 'error')
    assert.equal(once.http_status, 503)
    assert.equal((once as {response: {attempt: number}}).response.attempt, 1)
  })

  it('redirects are not followed unless the template says so', async () => {
    client.send({id: 'm', request: 'moved'})
    const moved = await client.final('m')
    assert.equal(moved.status, 'error')
    assert.equal(moved.http_status, 302)
    client.send({id: 'mf', request: 'moved_follow'})
    const followed = await client.final('mf')
    assert.equal(followed.status, 'ok')
    assert.deepEqual((followed.response as {id: string}).id, 'redirected')
  })

  it('a client that does not read its replies stalls only itself, and gets every reply once it reads', async () => {
    const lazy = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
    try {
      lazy.socket.pause()
      // 60 replies of 256 KiB (15 MiB): far over what the socket buffers hold, so the relay must stop reading.
      lazy.send(Array.from({length: 60}, (_, i) => JSON.stringify({id: i, params: {kib: 256}, request: 'blob'})).join('\n') + '\n')
      client.send({id: 'meanwhile', params: {user_id: 'm'}, request: 'user'})
      assert.equal((await client.final('meanwhile')).status, 'ok')
      lazy.socket.resume()
      const finals = await lazy.waitFor((r) => r.status !== 'dispatched', 60)
      assert.ok(finals.every((r) => r.status === 'ok' && (r.response as {blob: string}).blob.length === 256 * 1024))
      assert.equal(new Set(finals.map((r) => r.id)).size, 60)
    } finally {
      lazy.close()
    }
  })

  it('HEAD answers a null response; a text body stays text', async () => {
    client.send({id: 'h', request: 'head'})
    const head = await client.final('h')
    assert.equal(head.status, 'ok')
    assert.equal(head.response, null)
    client.send({id: 't', request: 'text'})
    assert.equal((await client.final('t')).response, 'plain words')
  })
})

describe('relay: UNIX sockets, reload, drain', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-relay-unix-')
  let upstream: Upstream
  const config = (): ReturnType<typeof relayConfig> => relayConfig({requests: {slow: {method: 'GET', url: `${upstream.origin}/slow/300`}, user: {method: 'GET', url: `${upstream.origin}/user/{user_id}`}}})

  before(async () => {
    upstream = await startUpstream()
  })

  after(async () => {
    await upstream?.close()
  })

  it('creates the socket with mode 0600, or --socket-mode', async () => {
    const path = join(dir(), 'private.sock')
    const relay = await startRelayServer({config: config(), listen: {kind: 'unix', path}})
    try {
      assert.equal(statSync(path).mode & 0o777, 0o600)
      const client = await LineClient.connect(path)
      client.send({id: 1, params: {user_id: 1}, request: 'user'})
      assert.equal((await client.final(1)).status, 'ok')
      client.close()
    } finally {
      await relay.close()
    }

    const shared = join(dir(), 'shared.sock')
    const groupRelay = await startRelayServer({config: config(), listen: {kind: 'unix', path: shared}, socketMode: 0o660})
    assert.equal(statSync(shared).mode & 0o777, 0o660)
    await groupRelay.close()
  })

  it('replaces a stale socket file; refuses a live socket and a file that is not a socket', {skip: skipWithout('python3')}, async () => {
    const path = join(dir(), 'stale.sock')
    // A socket file whose server is gone: a process that bound it and exited (Python leaves the file).
    execFileSync(tool('python3'), ['-c', 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)', path], {timeout: 10_000})
    assert.ok(lstatSync(path).isSocket())
    const relay = await startRelayServer({config: config(), listen: {kind: 'unix', path}})
    try {
      const client = await LineClient.connect(path)
      client.send({id: 's', params: {user_id: 2}, request: 'user'})
      assert.equal((await client.final('s')).status, 'ok')
      client.close()
      await assert.rejects(startRelayServer({config: config(), listen: {kind: 'unix', path}}), (error) => isRestwireError(error, 'RW_ERR_CONNECT') && /another process is listening/.test(error.message))
    } finally {
      await relay.close()
    }

    const plain = join(dir(), 'plain-file')
    writeFileSync(plain, 'keep me')
    await assert.rejects(startRelayServer({config: config(), listen: {kind: 'unix', path: plain}}), (error) => isRestwireError(error, 'RW_ERR_CONFIG') && /not a socket/.test(error.message))
    assert.equal(statSync(plain).size, 7)
  })

  it('reload: new lines use the new config, an open connection stays open', async () => {
    const relay = await startRelayServer({config: config(), listen: TCP})
    try {
      const client = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
      client.send({id: 1, params: {user_id: 1}, request: 'user'})
      assert.equal((await client.final(1)).status, 'ok')
      await relay.reload(relayConfig({requests: {renamed: {method: 'GET', url: `${upstream.origin}/user/{user_id}`}}}))
      client.send({id: 2, params: {user_id: 1}, request: 'user'})
      assert.match(((await client.final(2)).response as {error: string}).error, /unknown request "user"/)
      client.send({id: 3, params: {user_id: 3}, request: 'renamed'})
      assert.equal((await client.final(3)).status, 'ok')
      assert.equal(client.closed, false)
      client.close()
    } finally {
      await relay.close()
    }
  })

  it('reload while requests wait for a slot (max_concurrency 1): they still run on the old config', async () => {
    const limited = (): ReturnType<typeof relayConfig> => relayConfig({max_concurrency: 1, requests: {slow: {method: 'GET', url: `${upstream.origin}/slow/100`}}})
    const relay = await startRelayServer({config: limited(), listen: TCP})
    const client = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
    try {
      client.send('{"request":"slow","id":1}\n{"request":"slow","id":2}\n{"request":"slow","id":3}\n')
      await client.waitFor((r) => r.status === 'dispatched', 3)
      await relay.reload(limited())
      const finals = await client.waitFor((r) => r.status !== 'dispatched', 3)
      assert.deepEqual(finals.map((r) => r.status), ['ok', 'ok', 'ok'], JSON.stringify(finals))
    } finally {
      client.close()
      await relay.close()
    }
  })

  it('close() lets a request in flight answer, then ends the connection', async () => {
    const relay = await startRelayServer({config: config(), listen: TCP})
    const client = await LineClient.connect(parseRelayAddress(relay.address, 'listen'))
    client.send({id: 'd', request: 'slow'})
    await client.waitFor((r) => r.status === 'dispatched')
    await relay.close({drainMs: 10_000})
    assert.equal((await client.final('d')).status, 'ok')
    await client.waitFor(() => client.closed)
    assert.equal(client.closed, true)
  })
})
