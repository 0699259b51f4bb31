// `korv serve --inspect` and `relay start --inspect`: the inspector on a port of its own, fed by the
// server's own traffic records, and replay through the server's own path (korv: the handler under a
// channel's rules; relay: one more request line on its socket). And the bind rule on both.
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {type Socket, connect} from 'node:net'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {KorvClient, loadPrivateKey} from '../../src/core/korv/index.js'
import {parseRelayAddress} from '../../src/core/relay/address.js'
import {sendRelayRequest} from '../../src/core/relay/client.js'
import {restwire, startServe} from '../helpers/cli.js'
import {INSPECT, openSse, rawRequest} from '../helpers/inspector-http.js'
import {startRelayCli} from '../helpers/relay-cli.js'
import {startUpstream} from '../helpers/relay-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {waitFor} from '../helpers/wait.js'

interface Summary {id: number; verb: string; path: string; status: number; peer?: string}
interface Peer {id: string; address?: string; fingerprint?: string; since?: string; inFlight?: number}

const portOf = (url: unknown): number => Number(new URL(String(url)).port)
const records = async (port: number): Promise<Summary[]> => (JSON.parse((await rawRequest(port, '/inspect/api/records', {headers: INSPECT})).body) as {records: Summary[]}).records
const peers = async (port: number): Promise<{list: Peer[]; total: number}> => {
  const answer = await rawRequest(port, '/inspect/api/peers', {headers: INSPECT})
  assert.equal(answer.status, 200, answer.body)
  return {list: JSON.parse(answer.body) as Peer[], total: Number(answer.headers['x-total-count'])}
}
const replay = async (port: number, id: number, body?: string): Promise<{status: number; response: {text: string}; error?: string}> => {
  const answer = await rawRequest(port, `/inspect/api/records/${id}/replay`, {body: JSON.stringify(body === undefined ? {} : {body}), headers: INSPECT, method: 'POST'})
  assert.equal(answer.status, 200, answer.body)
  return JSON.parse(answer.body) as {status: number; response: {text: string}}
}

describe('korv serve --inspect and relay start --inspect', {timeout: 90_000}, () => {
  const dir = useTempDir('restwire-inspector-servers-')
  const stops: Array<() => unknown> = []
  after(async () => {
    for (const stop of stops) await stop()
  })

  it('korv: lists requests live and replays one through the handler, edited', async () => {
    const env = {RESTWIRE_HOME: join(dir(), 'home')}
    const serve = await startServe(['--demo', '--inspect', '0'], env)
    stops.push(() => serve.stop())
    const listening = JSON.parse(serve.stderr.find((line) => line.includes('"listening"'))!) as {inspector: string}
    assert.match(listening.inspector, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    const port = portOf(listening.inspector)
    const sse = await openSse(port)
    stops.push(() => sse.close())
    await sse.next((e) => e.event === 'snapshot')
    const call = await restwire(['korv', 'call', 'STORE', '/echo', '--to', String(serve.port), '--data', '{"a":1}'], env)
    assert.equal(call.code, 0, call.stderr)
    const live = (await sse.next((e) => e.event === 'record' && (e.data as Summary).verb === 'STORE')).data as Summary
    assert.equal(live.path, '/echo')
    assert.equal(live.status, 201)

    const replayed = await replay(port, live.id, '{"a": 2}')
    assert.equal(replayed.status, 201)
    assert.match(replayed.response.text, /"a": 2/)
    const after = await waitFor(async () => (await records(port)).find((r) => r.peer === 'inspector replay'), 10_000, 'the replay recorded')
    assert.equal(after.verb, 'STORE')
    assert.equal((await rawRequest(port, '/nodes', {headers: INSPECT})).status, 404, 'its own port serves only the inspector')
  })

  it('korv: replays a GET with its query, and lists the SSH connections as peers', async () => {
    const home = join(dir(), 'home-peers')
    const serve = await startServe(['--demo', '--inspect', '0'], {RESTWIRE_HOME: home})
    stops.push(() => serve.stop())
    const port = portOf((JSON.parse(serve.stderr.find((line) => line.includes('"listening"'))!) as {inspector: string}).inspector)
    const call = await restwire(['korv', 'call', 'GET', '/echo?a=1', '--to', String(serve.port)], {RESTWIRE_HOME: home})
    assert.equal(call.code, 0, call.stderr)
    const got = await waitFor(async () => (await records(port)).find((r) => r.verb === 'GET'), 10_000, 'the GET recorded')
    assert.equal(got.path, '/echo', 'the record\'s path has no query (metrics label routes by it)')
    const replayed = await replay(port, got.id)
    assert.equal(replayed.status, 200)
    const echoed = JSON.parse(replayed.response.text) as {query: unknown; resource: string}
    assert.deepEqual(echoed.query, {a: '1'})
    assert.equal(echoed.resource, '/echo?a=1')

    await waitFor(async () => (await peers(port)).total === 0, 10_000, 'the one-shot call\'s connection gone from the list')
    const client = await KorvClient.connect({hostKeyPolicy: 'accept-new', identities: [await loadPrivateKey(join(home, 'id_ed25519'))], knownHostsPath: join(dir(), 'known_hosts_peers'), port: serve.port})
    stops.push(() => client.close())
    assert.equal((await client.request('GET', '/hello')).status, 200)
    const {list, total} = await peers(port)
    assert.equal(total, 1)
    assert.equal(list.length, 1)
    assert.equal(list[0].fingerprint, got.peer, 'the key that made the call')
    assert.equal(list[0].address, '127.0.0.1')
    assert.match(list[0].id, /^127\.0\.0\.1:\d+$/)
    assert.equal(list[0].inFlight, 0)
    assert.ok(Date.parse(list[0].since!) <= Date.now())
    const snapshot = JSON.parse((await rawRequest(port, '/inspect/api/records', {headers: INSPECT})).body) as {peers: Peer[]; peersTotal: number}
    assert.equal(snapshot.peersTotal, 1)
    assert.equal(snapshot.peers[0].id, list[0].id)
    await client.close()
    await waitFor(async () => (await peers(port)).total === 0, 10_000, 'the closed connection leaves the list')
  })

  it('relay: replays a named request as one more line on its socket', async () => {
    const upstream = await startUpstream()
    stops.push(() => upstream.close())
    const configPath = join(dir(), 'relay.json')
    writeFileSync(configPath, JSON.stringify({requests: {create: {body: 'json', method: 'POST', url: `${upstream.origin}/echo`}}}))
    const relay = await startRelayCli(['--config', configPath, '--listen', 'tcp://127.0.0.1:0', '--inspect', '127.0.0.1:0'])
    stops.push(() => relay.stop())
    const listening = JSON.parse(relay.stderr.find((line) => line.includes('"listening"'))!) as {inspector: string}
    const port = portOf(listening.inspector)
    const address = parseRelayAddress(relay.address, 'to')
    const {reply} = await sendRelayRequest({address, request: {data: {name: 'ada'}, id: 1, request: 'create'}, timeoutMs: 20_000})
    assert.equal(reply.status, 'ok')
    const first = await waitFor(async () => (await records(port)).find((r) => r.verb === 'create'), 10_000, 'the relay record')
    assert.equal(first.status, 200)

    const seen = upstream.seen.length
    const replayed = await replay(port, first.id, '{"data": {"name": "bob"}}')
    assert.equal(replayed.status, 200)
    assert.match(replayed.response.text, /bob/)
    assert.equal(upstream.seen.length, seen + 1)
    assert.match(upstream.seen.at(-1)!.body, /"name":"bob"/)
    await waitFor(async () => (await records(port)).filter((r) => r.verb === 'create').length === 2, 10_000, 'the replayed line recorded like a client\'s')
    await waitFor(async () => (await peers(port)).total === 0, 10_000, 'the replay\'s connection gone from the list')
    const address2 = new URL(relay.address.replace(/^tcp:/, 'http:'))
    const socket: Socket = connect(Number(address2.port), address2.hostname)
    stops.push(() => socket.destroy())
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    const held = await waitFor(async () => ((await peers(port)).total === 1 ? peers(port) : undefined), 10_000, 'the held socket listed')
    assert.equal(held.list.length, 1)
    assert.equal(held.list[0].id, `127.0.0.1:${socket.localPort}`)
    assert.equal(held.list[0].address, '127.0.0.1')
    assert.equal(held.list[0].inFlight, 0)
    assert.ok(held.list[0].since)
    socket.destroy()
    await waitFor(async () => (await peers(port)).total === 0, 10_000, 'the closed socket leaves the list')
    const bad = await rawRequest(port, `/inspect/api/records/${first.id}/replay`, {body: JSON.stringify({body: '[1]'}), headers: INSPECT, method: 'POST'})
    assert.equal(bad.status, 400)
  })

  it('refuses --inspect on a non-loopback address without a token', async () => {
    const korv = await restwire(['korv', 'serve', '--demo', '--listen', '0', '--inspect', '0.0.0.0:0'], {RESTWIRE_HOME: join(dir(), 'home2')})
    assert.equal(korv.code, 2, korv.stderr)
    assert.match(korv.stderr, /--inspect puts the inspector on 0\.0\.0\.0, which is not loopback, without a token/)
    const configPath = join(dir(), 'relay2.json')
    writeFileSync(configPath, JSON.stringify({requests: {x: {method: 'GET', url: 'http://127.0.0.1:1/'}}}))
    const relay = await restwire(['relay', 'start', '--config', configPath, '--listen', 'tcp://127.0.0.1:0', '--inspect', '0.0.0.0:0'], {})
    assert.equal(relay.code, 2, relay.stderr)
    assert.match(relay.stderr, /RESTWIRE_INSPECT_TOKEN/)
  })
})
