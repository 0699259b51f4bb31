// JSON a peer nests 100,000 levels deep (V8's JSON.parse takes it, JSON.stringify throws a RangeError):
// in a request's data or id, or in an upstream's answer. Each is an error reply for that request alone,
// against a real relay on 127.0.0.1:0 and a real local HTTP upstream; the connection stays served.
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {parseRelayAddress} from '../../../src/core/relay/address.js'
import type {RelayRequestLog} from '../../../src/core/relay/connection.js'
import {type RelayServer, startRelayServer} from '../../../src/core/relay/server.js'
import {deepJsonText} from '../../helpers/hostile.js'
import {LineClient, type Upstream, relayConfig, startUpstream} from '../../helpers/relay-fixture.js'

describe('relay: JSON nested too deeply', {timeout: 60_000}, () => {
  let upstream: Upstream
  let relay: RelayServer
  let client: LineClient
  const logs: RelayRequestLog[] = []

  before(async () => {
    upstream = await startUpstream()
    const config = relayConfig({
      requests: {
        deep: {method: 'GET', url: `${upstream.origin}/deep`},
        echo: {method: 'POST', url: `${upstream.origin}/echo`},
        form: {body: 'form', method: 'POST', url: `${upstream.origin}/echo`},
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
  })

  async function assertStillServing(): Promise<void> {
    const id = `alive-${client.replies.length}`
    client.send({id, params: {user_id: 1}, request: 'user'})
    assert.equal((await client.final(id)).status, 'ok')
  }

  async function rejected(text: string, id: unknown): Promise<Record<string, unknown>> {
    const before = client.replies.length
    client.send(text)
    const [reply] = await client.waitFor((r) => client.replies.indexOf(r) >= before && r.status === 'error')
    assert.deepEqual(reply!.id, id)
    assert.equal(client.replies.slice(before).filter((r) => r.status === 'dispatched').length, 0, 'never dispatched')
    return reply!
  }

  it('data nested 100,000 deep (array, object, a form field): RW_ERR_JSON for that request, nothing sent upstream', async () => {
    const seen = upstream.seen.length
    const cases = [
      ['echo', deepJsonText(100_000, 'array'), 'deep-a'],
      ['echo', deepJsonText(100_000, 'object'), 'deep-o'],
      ['form', `{"field": ${deepJsonText(100_000)}}`, 'deep-f'],
    ] as const
    for (const [request, data, id] of cases) {
      const reply = await rejected(`{"request": "${request}", "id": "${id}", "data": ${data}}\n`, id)
      assert.equal((reply.response as {code: string}).code, 'RW_ERR_JSON')
      assert.match((reply.response as {error: string}).error, /cannot be written as JSON: it is nested too deeply/)
    }

    assert.equal(upstream.seen.length, seen)
    assert.equal(client.closed, false)
    await assertStillServing()
  })

  it('an id nested 100,000 deep: RW_ERR_JSON with id null', async () => {
    const reply = await rejected(`{"request": "user", "id": ${deepJsonText(100_000)}, "params": {"user_id": 1}}\n`, null)
    assert.equal((reply.response as {code: string}).code, 'RW_ERR_JSON')
    await assertStillServing()
  })

  it('an upstream answering JSON nested 100,000 deep: an error reply with http_status (RW_ERR_JSON), logged', async () => {
    client.send({id: 'deep-up', request: 'deep'})
    const reply = await client.final('deep-up')
    assert.equal(reply.status, 'error')
    assert.equal(reply.http_status, 200)
    assert.equal((reply.response as {code: string}).code, 'RW_ERR_JSON')
    assert.match((reply.response as {error: string}).error, /upstream's response body cannot be written as JSON/)
    assert.ok(logs.some((entry) => entry.request === 'deep' && entry.code === 'RW_ERR_JSON' && entry.status === 'error'))
    await assertStillServing()
  })
})
