// The inspector on a real pipe hub's HTTP gateway: the nodes, events recorded by the hub, and replay as
// one more hub → node event (args kept; a streamed body the hub kept only in part must be edited to
// replay), and the bodies of events both ways, recorded as they pass (JSON, binary, large and streamed).
import assert from 'node:assert/strict'
import {request} from 'node:http'
import {after, before, describe, it} from 'node:test'
import {type Inspector, createInspector} from '../../../src/core/observe/inspector.js'
import {DEFAULT_MAX_BODY_BYTES, StreamedBody, TrafficLog} from '../../../src/core/observe/traffic.js'
import {type PipeGatewayHandle, startPipeGateway} from '../../../src/core/pipe/gateway.js'
import type {PipeHubHandle} from '../../../src/core/pipe/hub.js'
import {pipeInspectTarget} from '../../../src/core/pipe/inspect-target.js'
import type {PipeNodeHandle} from '../../../src/core/pipe/node.js'
import {INSPECT, openSse, rawRequest} from '../../helpers/inspector-http.js'
import {startTestHub, startTestNode} from '../../helpers/pipe-fixture.js'
import {makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'
import {waitFor} from '../../helpers/wait.js'

describe('inspector on a pipe hub', {skip: skipWithout('openssl'), timeout: 90_000}, () => {
  const dir = useTempDir('restwire-inspector-pipe-')
  const log = new TrafficLog({bodies: true})
  let hub: PipeHubHandle
  let node: PipeNodeHandle
  let gateway: PipeGatewayHandle
  let inspector: Inspector
  let port: number

  before(async () => {
    const pki = await makePipePki(dir())
    hub = (await startTestHub(pki, {traffic: log})).hub
    node = (await startTestNode(pki, hub.address.port)).node
    await hub.waitForNode('node-a')
    inspector = createInspector({bindHost: '127.0.0.1', log, target: pipeInspectTarget(hub, 10_000)})
    gateway = await startPipeGateway({hub, kind: 'hub'}, {inspector, port: 0})
    port = gateway.address.port
  })
  after(async () => {
    inspector?.close()
    await gateway?.close()
    await node?.close()
    await hub?.close()
  })

  const recordOf = async (method: string, path: string, body?: string): Promise<number> => {
    const before = log.recent().at(-1)?.id ?? 0
    const answer = await rawRequest(port, path, {body, method})
    assert.equal(answer.status, 200, answer.body)
    return (await waitFor(() => log.recent().find((r) => r.id > before && r.direction === 'out'), 10_000, `the record of ${path}`)).id
  }

  const replay = (id: number, body?: string): Promise<{status: number; body: string}> =>
    rawRequest(port, `/inspect/api/records/${id}/replay`, {body: JSON.stringify(body === undefined ? {} : {body}), headers: INSPECT, method: 'POST'})

  it('lists the node by its certificate name and streams the hub\'s events', async () => {
    const sse = await openSse(port)
    try {
      const snapshot = (await sse.next((e) => e.event === 'snapshot')).data as {about: {name: string}; peers: Array<{id: string}>}
      assert.equal(snapshot.about.name, 'pipe hub')
      assert.deepEqual(snapshot.peers.map((p) => p.id), ['node-a'])
      const id = await recordOf('GET', '/client/node-a/whoami')
      const live = (await sse.next((e) => e.event === 'record' && (e.data as {id: number}).id === id)).data as {verb: string; path: string; peer: string}
      assert.deepEqual({path: live.path, peer: live.peer, verb: live.verb}, {path: 'whoami', peer: 'node-a', verb: 'GET'})
    } finally {
      sse.close()
    }
  })

  it('replays an event with its args, and an edited body', async () => {
    const cat = await recordOf('GET', '/client/node-a/cat//left/right')
    const again = JSON.parse((await replay(cat)).body) as {status: number; response: {text: string; headers: Record<string, string>}}
    assert.equal(again.status, 0)
    assert.match(again.response.text, /left/)
    assert.match(again.response.text, /right/)
    assert.equal(again.response.headers['x-event-return-code'], '0')

    const echo = await recordOf('POST', '/client/node-a/echo', 'first body')
    const unchanged = JSON.parse((await replay(echo)).body) as {status: number; response: {text: string}}
    assert.equal(unchanged.response.text, 'first body', 'the streamed body was recorded as it passed, so it can be resent')
    const edited = JSON.parse((await replay(echo, 'second body')).body) as {status: number; response: {text: string}}
    assert.equal(edited.status, 0)
    assert.equal(edited.response.text, 'second body')

    const large = await sendBody('/client/node-a/echo', [Buffer.alloc(100 * 1024, 'x')], 'text/plain')
    const unkept = await replay(large.id)
    assert.equal(unkept.status, 409, 'a body the hub kept only in part cannot be resent unchanged')
  })

  /** A POST through the gateway whose body is written in `chunks` (a streamed, chunked body); its record's id and the answer. */
  const sendBody = async (path: string, chunks: Buffer[], contentType: string): Promise<{id: number; status: number; body: Buffer}> => {
    const before = log.recent().at(-1)?.id ?? 0
    const answer = await new Promise<{status: number; body: Buffer}>((resolve, reject) => {
      const req = request({headers: {'content-type': contentType}, host: '127.0.0.1', method: 'POST', path, port, timeout: 20_000}, (res) => {
        const parts: Buffer[] = []
        res.on('data', (chunk: Buffer) => parts.push(chunk))
        res.on('end', () => resolve({body: Buffer.concat(parts), status: res.statusCode ?? 0}))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`${path}: no answer in 20 s`)))
      req.on('error', reject)
      const write = (index: number): void => {
        if (index === chunks.length) return void req.end()
        // One chunk per tick: the hub sees the body arrive in parts, as a streamed upload does.
        req.write(chunks[index], () => setImmediate(() => write(index + 1)))
      }

      write(0)
    })
    assert.equal(answer.status, 200, answer.body.toString())
    const record = await waitFor(() => log.recent().find((r) => r.id > before && r.direction === 'out'), 10_000, `the record of ${path}`)
    return {...answer, id: record.id}
  }

  /** The record as the page gets it, once `ready` says its bodies are complete (a reply body is recorded as it passes). */
  const detailOf = async (id: number, ready: (detail: Detail) => boolean = () => true): Promise<Detail> =>
    waitFor(async () => {
      const answer = await rawRequest(port, `/inspect/api/records/${id}`, {headers: INSPECT})
      assert.equal(answer.status, 200, answer.body)
      const detail = JSON.parse(answer.body) as Detail
      return ready(detail) ? detail : undefined
    }, 10_000, `the bodies of record ${id}`)

  it('shows a JSON event body and its reply pretty-printed, with their content types', async () => {
    const body = Buffer.from(JSON.stringify({items: [1, 2, 3], name: 'widget'}))
    const {id} = await sendBody('/client/node-a/echo', [body], 'application/json')
    const detail = await detailOf(id, (d) => d.response.kind !== 'none')
    assert.equal(detail.request.kind, 'json')
    assert.equal(detail.request.text, JSON.stringify({items: [1, 2, 3], name: 'widget'}, null, 2))
    assert.equal(detail.request.bytes, body.length)
    assert.equal(detail.request.truncated, false)
    assert.equal(detail.request.headers?.['content-type'], 'application/json')
    assert.equal(detail.response.kind, 'json')
    assert.equal(detail.response.text, detail.request.text)
    assert.equal(detail.response.headers?.['content-type'], 'application/json')
  })

  it('shows a binary event body and its reply as size and hex', async () => {
    const body = Buffer.from(Array.from({length: 1024}, (_, i) => i % 256))
    const {id, body: answer} = await sendBody('/client/node-a/echo', [body.subarray(0, 300), body.subarray(300)], 'application/octet-stream')
    assert.deepEqual(answer, body)
    const detail = await detailOf(id, (d) => d.response.kind !== 'none')
    for (const side of [detail.request, detail.response]) {
      assert.equal(side.kind, 'binary')
      assert.equal(side.bytes, 1024)
      assert.match(side.hex!, /^00000000 {2}00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f {2}\|\.{16}\|/)
      assert.equal(side.truncated, true, 'the hex preview shows the first 512 bytes only')
    }

    const kept = log.get(id)!.request.value as Buffer
    assert.deepEqual(kept, body, 'the whole 1 KiB body was kept')
  })

  it('keeps a bounded prefix of a large streamed body and its streamed reply, marked truncated', async () => {
    const chunk = Buffer.alloc(64 * 1024)
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7) & 0xff
    const mib = 2
    const {body: echoed, id} = await sendBody('/client/node-a/echo', Array.from({length: mib * 16}, () => chunk), 'application/octet-stream')
    assert.equal(echoed.length, mib * 1024 * 1024)
    const detail = await detailOf(id, (d) => d.response.bytes === mib * 1024 * 1024)
    for (const side of [detail.request, detail.response]) {
      assert.equal(side.kind, 'binary')
      assert.equal(side.bytes, mib * 1024 * 1024)
      assert.equal(side.truncated, true)
    }

    const record = log.get(id)!
    assert.equal((record.request.value as Buffer).length, DEFAULT_MAX_BODY_BYTES, 'the request kept its first 64 KiB')
    assert.deepEqual(record.request.value, chunk.subarray(0, DEFAULT_MAX_BODY_BYTES))
    assert.equal((record.response.value as Buffer).length, DEFAULT_MAX_BODY_BYTES, 'the reply kept its first 64 KiB')

    // A reply the node streams (more than one flow-control window), recorded as it passes.
    const big = await recordOf('GET', '/client/node-a/big//5')
    const streamed = await detailOf(big, (d) => d.response.bytes === 5 * 1024 * 1024)
    assert.equal(streamed.response.truncated, true)
    assert.match(streamed.response.hex!, /^00000000 {2}00 01 02 03/)
    assert.equal((log.get(big)!.response.value as Buffer).length, DEFAULT_MAX_BODY_BYTES)
  })

  it('records the bodies of an event a node sends to the hub, as the hub\'s handler answers it', async () => {
    const before = log.recent().at(-1)?.id ?? 0
    const reply = await node.request({args: [], body: Buffer.from('{"from":"node"}'), contentType: 'application/json', noun: 'echo', verb: 'POST'}, {timeoutMs: 10_000})
    assert.equal((await reply.read()).toString(), '{"from":"node"}')
    const record = await waitFor(() => log.recent().find((r) => r.id > before && r.direction === 'in'), 10_000, 'the hub\'s record of the event')
    const detail = await detailOf(record.id, (d) => d.response.kind !== 'none')
    assert.equal(detail.request.kind, 'json')
    assert.match(detail.request.text!, /"from": "node"/)
    assert.equal(detail.request.headers?.['content-type'], 'application/json')
    assert.equal(detail.response.kind, 'json')
  })
})

interface BodyDetail {
  bytes: number
  kind: string
  text?: string
  hex?: string
  truncated: boolean
  headers?: Record<string, string>
}

interface Detail {
  request: BodyDetail
  response: BodyDetail
}

describe('pipe hub without an inspector', {skip: skipWithout('openssl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-inspector-pipe-off-')

  it('records sizes only: no body is copied', async () => {
    const pki = await makePipePki(dir())
    const log = new TrafficLog({keep: 10})
    const hub = (await startTestHub(pki, {traffic: log})).hub
    const node = (await startTestNode(pki, hub.address.port)).node
    try {
      await hub.waitForNode('node-a')
      const reply = await hub.request('node-a', {args: [], body: Buffer.from('{"a":1}'), noun: 'echo', verb: 'POST'}, {timeoutMs: 10_000})
      assert.equal((await reply.read()).toString(), '{"a":1}')
      const record = log.recent().find((r) => r.direction === 'out')!
      assert.equal(record.request.bytes, 7)
      assert.equal(record.request.value, undefined)
      assert.equal(record.response.value, undefined)
      assert.ok(!(record.request instanceof StreamedBody) && !(record.response instanceof StreamedBody))
    } finally {
      await node.close()
      await hub.close()
    }
  })
})
