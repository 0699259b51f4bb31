// The relay client from the library entry (restwire/relay), as a library user calls it: against a real
// relay server and upstream, and against raw line servers for what a relay must not send.
import assert from 'node:assert/strict'
import {type AddressInfo, type Socket, createServer} from 'node:net'
import {after, before, describe, it} from 'node:test'
import {RestwireError, formatRelayAddress, parseRelayAddress, sendRelayRequest} from '../../../src/core/relay/index.js'
import {type RelayServer, startRelayServer} from '../../../src/core/relay/server.js'
import {type Upstream, relayConfig, startUpstream} from '../../helpers/relay-fixture.js'

/** A line server that answers each connection with `reply` (raw bytes), then closes it if `end`. */
async function rawRelay(reply: string, end: boolean): Promise<{address: string; close(): void}> {
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    sockets.push(socket)
    socket.on('error', () => {})
    socket.once('data', () => (end ? socket.end(reply) : socket.write(reply)))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    address: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      for (const socket of sockets) socket.destroy()
      server.close()
    },
  }
}

async function failure(promise: Promise<unknown>): Promise<RestwireError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  assert.ok(error instanceof RestwireError, `expected a RestwireError, got ${String(error)}`)
  return error
}

describe('restwire/relay: sendRelayRequest', {timeout: 60_000}, () => {
  let upstream: Upstream
  let relay: RelayServer

  before(async () => {
    upstream = await startUpstream()
    const config = relayConfig({requests: {get_user: {method: 'GET', url: `${upstream.origin}/user/{id}`}, status: {method: 'GET', url: `${upstream.origin}/status/{n}`}}})
    relay = await startRelayServer({config, listen: parseRelayAddress('tcp://127.0.0.1:0', 'listen')})
  })
  after(async () => {
    await relay?.close({drainMs: 1000})
    await upstream?.close()
  })

  const address = (): ReturnType<typeof parseRelayAddress> => parseRelayAddress(relay.address, 'to')

  it('a request: dispatched, then the final reply with the upstream status', async () => {
    const {dispatched, reply} = await sendRelayRequest({address: address(), request: {id: 7, params: {id: 'ada'}, request: 'get_user'}, timeoutMs: 5000})
    assert.equal(dispatched, true)
    assert.deepEqual([reply.status, reply.id, reply.http_status], ['ok', 7, 200])
    assert.equal((reply.response as {id: string}).id, 'ada')
    const failed = await sendRelayRequest({address: address(), request: {id: 'x', params: {n: 503}, request: 'status'}, timeoutMs: 5000})
    assert.deepEqual([failed.reply.status, failed.reply.http_status], ['error', 503])
  })

  it('a request the relay does not know: the rejection, not dispatched', async () => {
    const {dispatched, reply} = await sendRelayRequest({address: address(), request: {id: 1, request: 'nope'}, timeoutMs: 5000})
    assert.equal(dispatched, false)
    assert.equal(reply.status, 'error')
    assert.equal((reply.response as {code: string}).code, 'RW_ERR_RELAY_REQUEST')
  })

  it('passes every line sent and received to onTrace', async () => {
    const trace: string[] = []
    await sendRelayRequest({address: address(), onTrace: (kind, text) => trace.push(`${kind} ${text}`), request: {id: 2, params: {id: 'bo'}, request: 'get_user'}, timeoutMs: 5000})
    assert.ok(trace.some((line) => /^send request "get_user", id 2, params: id \(4 bytes\)/.test(line)), trace.join('\n'))
    assert.ok(trace.some((line) => /^recv dispatched/.test(line)))
    assert.ok(trace.some((line) => /^recv ok, http_status 200/.test(line)))
  })

  it('reply lines with "\\r\\n" are read like "\\n" ones', async () => {
    const raw = await rawRelay('{"status":"dispatched","id":1}\r\n{"status":"ok","id":1,"response":{"a":1}}\r\n', false)
    try {
      const {dispatched, reply} = await sendRelayRequest({address: parseRelayAddress(raw.address, 'to'), request: {id: 1, request: 'x'}, timeoutMs: 5000})
      assert.deepEqual([dispatched, reply.response], [true, {a: 1}])
    } finally {
      raw.close()
    }
  })

  it('a reply line over maxLineBytes is RW_ERR_PROTOCOL; a partial line at the close is RW_ERR_CLOSED', async () => {
    const big = await rawRelay(`{"status":"ok","id":1,"response":"${'x'.repeat(200)}"}\n`, false)
    try {
      const error = await failure(sendRelayRequest({address: parseRelayAddress(big.address, 'to'), maxLineBytes: 100, request: {id: 1, request: 'x'}, timeoutMs: 5000}))
      assert.equal(error.code, 'RW_ERR_PROTOCOL')
      assert.match(error.message, /over the size limit/)
    } finally {
      big.close()
    }

    const partial = await rawRelay('{"status":"dispatched","id":1}\n{"status":"ok","id":1,"resp', true)
    try {
      const error = await failure(sendRelayRequest({address: parseRelayAddress(partial.address, 'to'), request: {id: 1, request: 'x'}, timeoutMs: 5000}))
      assert.equal(error.code, 'RW_ERR_CLOSED')
      assert.match(error.message, /closed the connection before the final reply/)
    } finally {
      partial.close()
    }
  })

  it('a reply nested too deeply to write back out is RW_ERR_JSON; a line that is not JSON is RW_ERR_PROTOCOL', async () => {
    const deep = await rawRelay(`{"status":"ok","id":1,"response":${'['.repeat(100_000)}${']'.repeat(100_000)}}\n`, false)
    try {
      assert.equal((await failure(sendRelayRequest({address: parseRelayAddress(deep.address, 'to'), request: {id: 1, request: 'x'}, timeoutMs: 5000}))).code, 'RW_ERR_JSON')
    } finally {
      deep.close()
    }

    const garbage = await rawRelay('not json\n', false)
    try {
      assert.equal((await failure(sendRelayRequest({address: parseRelayAddress(garbage.address, 'to'), request: {id: 1, request: 'x'}, timeoutMs: 5000}))).code, 'RW_ERR_PROTOCOL')
    } finally {
      garbage.close()
    }
  })

  it('RW_ERR_CONNECT when nothing listens; RW_ERR_TIMEOUT when no final reply comes', async () => {
    const refused = await failure(sendRelayRequest({address: parseRelayAddress('tcp://127.0.0.1:1', 'to'), request: {id: 1, request: 'x'}, timeoutMs: 5000}))
    assert.equal(refused.code, 'RW_ERR_CONNECT')
    assert.match(refused.message, /127\.0\.0\.1:1: connection refused/)
    const silent = await rawRelay('{"status":"dispatched","id":1}\n', false)
    try {
      const address = parseRelayAddress(silent.address, 'to')
      const timedOut = await failure(sendRelayRequest({address, request: {id: 1, request: 'x'}, timeoutMs: 200}))
      assert.equal(timedOut.code, 'RW_ERR_TIMEOUT')
      assert.match(timedOut.message, new RegExp(`relay at ${formatRelayAddress(address)} within 200 ms`))
    } finally {
      silent.close()
    }
  })
})
