// Compatibility with REST Reverse SSH ("rrssh", PROTOCOLS.md §2) in both roles: its gateway against a
// restwire node, and a restwire gateway against its node. The peers (test/fixtures/rrssh/) run on
// asyncssh under the system Python. The TCP direction is reversed relative to the SSH roles: the node
// dials the gateway and is the SSH server there; the gateway listens and is the SSH client. The peers
// keep rrssh's one-gzip-member-per-packet reading, so every message restwire sends them must travel
// in a packet of its own (a coalesced packet shows up as an `error` event and the message is lost).
import assert from 'node:assert/strict'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'
import {generateSshKeyPair, writeSshKeyPair} from '../../src/core/keys/ssh-key-pair.js'
import type {RwRequest} from '../../src/core/message/request.js'
import {Router} from '../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../src/core/ssh/authorized-keys.js'
import {type LoadedPrivateKey, loadPrivateKey} from '../../src/core/ssh/private-key.js'
import type {TunnelVerb} from '../../src/core/tunnel/index.js'
import {type PeerEvent, type PeerRun, killPythonPeers, runPythonPeer} from '../helpers/python-peer.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout} from '../helpers/tools.js'

const PEERS = fileURLToPath(new URL('../fixtures/rrssh/', import.meta.url))
const runPeer = (script: string, args: string[]): PeerRun => runPythonPeer(PEERS, script, args)
/** The peers' own bound (seconds), below PEER_TIMEOUT_MS so they report `failed`/`timeout` themselves. */
const PEER_SELF_TIMEOUT_S = '45'
const WAIT_FOR_NODE_MS = 30_000

type TunnelModule = typeof import('../../src/core/tunnel/index.js')
let tunnel: TunnelModule | undefined
let importFailure: string | undefined
try {
  tunnel = await import('../../src/core/tunnel/index.js')
} catch (error) {
  importFailure = `src/core/tunnel not built yet (${(error as Error).message.split('\n')[0]})`
}

if (importFailure) console.warn(`\n*** rrssh-compat SKIPPED: ${importFailure} ***\n`)
const skipReason = skipWithout('python3-asyncssh') || importFailure

interface TunnelKeys {
  /** The node's SSH host key (private key file; `.pub` next to it). */
  nodeHostKeyPath: string
  nodeHostPublicKey: string
  /** The gateway's SSH client key. */
  gatewayKeyPath: string
  gatewayKey: LoadedPrivateKey
  /** The node's authorized_keys: the gateway's public key. */
  authorizedKeysPath: string
  knownNodesPath: string
}

async function makeTunnelKeys(dir: string): Promise<TunnelKeys> {
  const host = await generateSshKeyPair({comment: 'rrssh-node', type: 'ed25519'})
  const gateway = await generateSshKeyPair({comment: 'rrssh-gateway', type: 'ed25519'})
  const nodeHostKeyPath = join(dir, 'node_host_key')
  const gatewayKeyPath = join(dir, 'gateway_key')
  await writeSshKeyPair(nodeHostKeyPath, host, {force: true})
  await writeSshKeyPair(gatewayKeyPath, gateway, {force: true})
  const authorizedKeysPath = join(dir, 'node_authorized_keys')
  await writeFile(authorizedKeysPath, gateway.publicKey + '\n', {mode: 0o600})
  const knownNodesPath = join(dir, 'known_nodes')
  await writeFile(knownNodesPath, '', {mode: 0o600})
  return {authorizedKeysPath, gatewayKey: await loadPrivateKey(gatewayKeyPath), gatewayKeyPath, knownNodesPath, nodeHostKeyPath, nodeHostPublicKey: host.publicKey}
}

interface RrsshMessage {
  id: unknown
  request_id: unknown
  ssh_response_code: number
  response: unknown
}

const ofKind = (events: PeerEvent[], kind: string): PeerEvent[] => events.filter((event) => event.event === kind)
const REQUEST_KEYS = ['data', 'id', 'kwargs', 'params', 'request_type', 'router']
const RESPONSE_KEYS = ['id', 'request_id', 'response', 'ssh_response_code']

/** A rejected gateway call: RW_ERR_REMOTE_4XX/5XX with the node's status in details.status. */
const remoteFailure =
  (status: number) =>
  (error: unknown): boolean => {
    const {code, details} = error as {code?: string; details?: {status?: unknown}}
    return code === (status >= 500 ? 'RW_ERR_REMOTE_5XX' : 'RW_ERR_REMOTE_4XX') && details?.status === status
  }

async function collect(iterable: AsyncIterable<unknown>): Promise<unknown[]> {
  const items: unknown[] = []
  for await (const item of iterable) items.push(item)
  return items
}

describe('tunnel: the rrssh Python gateway against a restwire node', {skip: skipReason}, () => {
  const dir = useTempDir('restwire-rrssh-gateway-')
  let keys: TunnelKeys
  let gateway: PeerRun
  let authorizedKeys: AuthorizedKeysFile
  let node: ReturnType<TunnelModule['exposeNode']> | undefined
  const nodeEvents: Array<{type: string}> = []
  /** The script the Python gateway runs after IDENTIFY, one request at a time. */
  const body = {list: [1, 2.5, null], name: 'ada', nested: {ok: true}, text: 'héllo ✓'}
  const BURST = 300
  const script = [
    {request_type: 'GET', router: '/home'},
    {data: body, request_type: 'POST', router: '/create'},
    {data: 'v2', request_type: 'PATCH', router: '/item'},
    {data: {x: 1}, request_type: 'UPDATE', router: '/item'},
    {request_type: 'DELETE', router: '/item'},
    {params: {n: 5}, request_type: 'STREAM', router: '/stream'},
    {params: {n: BURST}, request_type: 'STREAM', router: '/stream'},
    {request_type: 'GET', router: '/nope'},
    {request_type: 'STREAM', router: '/no-such-stream'},
    {request_type: 'GET', router: '/boom'},
  ]
  let exit: {code: number | null; stderr: string; timedOut: boolean}
  /** Per script step: every message the gateway received for it, in order. */
  let answers: RrsshMessage[][]

  before(async () => {
    keys = await makeTunnelKeys(dir())
    const scriptPath = join(dir(), 'script.json')
    await writeFile(scriptPath, JSON.stringify(script))
    gateway = runPeer('gateway.py', ['--key', keys.gatewayKeyPath, '--script', scriptPath, '--timeout', PEER_SELF_TIMEOUT_S])
    const port = (await gateway.waitFor((event) => event.event === 'listening')).port as number
    const router = new Router()
      .route('GET', '/home', () => ({home: 'router'}))
      .route('POST', '/create', ({body: data}) => data)
      .route('PATCH', '/item', ({body: data}) => ({patched: data}))
      .route('DELETE', '/item', () => ({deleted: true}))
      .route('GET', '/boom', () => {
        throw new Error('boom')
      })
      .route('STREAM', '/stream', async function* ({query}: RwRequest) {
        const n = Number(query.n ?? 10)
        for (let item = 0; item < n; item++) yield item
      })
    const hostKey = await loadPrivateKey(keys.nodeHostKeyPath)
    authorizedKeys = await AuthorizedKeysFile.open(keys.authorizedKeysPath)
    node = tunnel!.exposeNode({
      authorizedKeys,
      hostKeys: [{privateKey: hostKey.privateKey}],
      nodeId: 'ts-node',
      onEvent: (event) => nodeEvents.push(event),
      once: true,
      router,
      to: {host: '127.0.0.1', port},
    })
    exit = await gateway.exited
    answers = ofKind(gateway.events, 'answered').map((event) => event.messages as RrsshMessage[])
  })

  after(async () => {
    killPythonPeers()
    await node?.close()
    authorizedKeys?.close()
  })

  it('the gateway ran its whole script against restwire, and every packet held exactly one gzip member', () => {
    assert.equal(exit.timedOut, false, `the Python gateway hung; stderr: ${exit.stderr}`)
    assert.deepEqual(ofKind(gateway.events, 'failed'), [], `stderr: ${exit.stderr}`)
    assert.deepEqual(ofKind(gateway.events, 'error'), [], 'a packet held two gzip members or part of one: restwire coalesced toward an rrssh peer')
    assert.deepEqual(ofKind(gateway.events, 'unmatched'), [])
    assert.equal(exit.code, 0, `not every request was answered: ${JSON.stringify(ofKind(gateway.events, 'done'))}; stderr: ${exit.stderr}`)
    assert.equal(answers.length, script.length)
    const [connected] = ofKind(gateway.events, 'connected')
    assert.doesNotMatch(String(connected?.server_version), /AsyncSSH/, 'the SSH server on the socket was restwire, not another Python peer')
  })

  it('IDENTIFY is answered with the configured node id, in rrssh\'s response shape', async () => {
    const [identified] = ofKind(gateway.events, 'identified')
    assert.equal(identified?.node_id, 'ts-node')
    const message = identified?.message as RrsshMessage
    assert.deepEqual(Object.keys(message).sort(), RESPONSE_KEYS)
    const [sent] = ofKind(gateway.events, 'sent')
    const identify = sent?.request as Record<string, unknown>
    assert.equal(identify.request_type, 'IDENTIFY')
    assert.equal(message.request_id, identify.id)
    assert.equal(message.ssh_response_code, 200)
  })

  it('every response has the four keys, a unique non-zero id, and the request\'s id as request_id', () => {
    const sentIds = ofKind(gateway.events, 'sent').map((event) => (event.request as {id: string}).id)
    const messages = ofKind(gateway.events, 'message').map((event) => event.message as RrsshMessage)
    assert.ok(messages.length > BURST)
    const ids = new Set<unknown>()
    for (const message of messages) {
      assert.deepEqual(Object.keys(message).sort(), RESPONSE_KEYS)
      assert.ok(message.id !== 0 && message.id !== null && message.id !== '', `bad response id ${JSON.stringify(message.id)}`)
      ids.add(message.id)
      assert.ok(sentIds.includes(message.request_id as string))
    }

    assert.equal(ids.size, messages.length, 'response ids are unique')
  })

  it('GET, POST (data reaches the handler as JSON), PATCH and its alias UPDATE, DELETE', () => {
    const [home, create, patch, update, del] = answers
    assert.deepEqual(home?.map((m) => [m.ssh_response_code, m.response]), [[200, {home: 'router'}]])
    assert.deepEqual(create?.map((m) => [m.ssh_response_code, m.response]), [[200, body]])
    assert.deepEqual(patch?.map((m) => [m.ssh_response_code, m.response]), [[200, {patched: 'v2'}]])
    assert.deepEqual(update?.map((m) => [m.ssh_response_code, m.response]), [[200, {patched: {x: 1}}]])
    assert.deepEqual(del?.map((m) => [m.ssh_response_code, m.response]), [[200, {deleted: true}]])
  })

  it('STREAM: each item a 200 message of its own with the stream\'s request_id, then the terminator', () => {
    const stream = answers[5]!
    assert.deepEqual(
      stream.map((m) => [m.ssh_response_code, m.response]),
      [[200, 0], [200, 1], [200, 2], [200, 3], [200, 4], [200, null]],
    )
    assert.equal(new Set(stream.map((m) => m.request_id)).size, 1)
  })

  it(`a ${BURST}-item stream written back to back: every item reaches a one-member-per-packet reader, in order`, () => {
    const burst = answers[6]!
    assert.deepEqual(
      burst.map((m) => m.response),
      [...Array.from({length: BURST}, (_, n) => n), null],
    )
    assert.ok(burst.every((m) => m.ssh_response_code === 200))
    // Each 'message' event is one SSH packet that gunzipped to exactly one JSON document.
    const packets = ofKind(gateway.events, 'message').filter((event) => (event.message as RrsshMessage).request_id === burst[0]!.request_id)
    assert.equal(packets.length, BURST + 1)
  })

  it('an unknown route answers 404, an unknown stream route answers 404 (not an empty stream), a throwing handler 500', () => {
    const [nope, noStream, boom] = answers.slice(7)
    assert.deepEqual(nope?.map((m) => m.ssh_response_code), [404])
    assert.deepEqual(noStream?.map((m) => m.ssh_response_code), [404], 'one 404, no terminator')
    assert.deepEqual(boom?.map((m) => m.ssh_response_code), [500])
  })

  it('the node kept its configured id, saw no protocol errors, and (once) stopped when the gateway left', async () => {
    assert.equal(node?.nodeId, 'ts-node')
    await node?.done
    assert.deepEqual(nodeEvents.filter((event) => event.type === 'protocol-error'), [], 'every request packet decoded')
    assert.ok(nodeEvents.some((event) => event.type === 'connected'))
    assert.ok(!nodeEvents.some((event) => event.type === 'retrying'), 'a once node does not redial')
  })
})

describe('tunnel: a restwire gateway against the rrssh Python node', {skip: skipReason}, () => {
  const dir = useTempDir('restwire-rrssh-node-')
  let keys: TunnelKeys
  let gateway: Awaited<ReturnType<TunnelModule['startTunnelGateway']>> | undefined
  let node: PeerRun
  const NODE_ID = 'py-node'

  before(async () => {
    keys = await makeTunnelKeys(dir())
    gateway = await tunnel!.startTunnelGateway({
      acceptNew: true,
      host: '127.0.0.1',
      identities: [keys.gatewayKey],
      knownNodesPath: keys.knownNodesPath,
      port: 0,
    })
    const {port} = gateway.address
    node = runPeer('node.py', [
      '--to', `127.0.0.1:${port}`,
      '--host-key', keys.nodeHostKeyPath,
      '--authorized-keys', keys.authorizedKeysPath,
      '--node-id', NODE_ID,
      '--timeout', PEER_SELF_TIMEOUT_S,
    ])
    await node.waitFor((event) => event.event === 'CONNECTED')
    await gateway.waitForNode(NODE_ID, WAIT_FOR_NODE_MS)
  })

  after(async () => {
    await gateway?.close()
    killPythonPeers()
  })

  const call = (verb: TunnelVerb, path: string, options: {data?: unknown; params?: Record<string, unknown>} = {}): Promise<{status: number; body: unknown}> =>
    gateway!.request(NODE_ID, verb, path, options)

  it('sends IDENTIFY first with all six keys, lists the node, and trusts its host key on first use', async () => {
    const requests = ofKind(node.events, 'request').map((event) => event.request as Record<string, unknown>)
    const identify = requests[0]!
    assert.deepEqual(Object.keys(identify).sort(), REQUEST_KEYS)
    assert.equal(identify.request_type, 'IDENTIFY')
    assert.equal(identify.router, null)
    assert.deepEqual(identify.kwargs, {})
    assert.equal(ofKind(node.events, 'channel').length, 1, 'one direct-tcpip channel')
    assert.deepEqual(
      gateway!.nodes().map((entry) => entry.id),
      [NODE_ID],
    )
    const base64 = keys.nodeHostPublicKey.split(' ')[1]!
    assert.ok((await readFile(keys.knownNodesPath, 'utf8')).includes(base64), 'accept-new recorded the node host key')
  })

  it('GET, POST, PATCH and DELETE, with data and params passed through as JSON', async () => {
    const data = {list: [1, 2.5, null], name: 'ada', text: 'héllo ✓'}
    const home = await call('GET', '/home', {params: {key: 'value'}})
    assert.deepEqual([home.status, home.body], [200, {home: 'router'}])
    const create = await call('POST', '/create', {data})
    assert.deepEqual([create.status, create.body], [200, data])
    const patch = await call('PATCH', '/item', {data: {v: 2}})
    assert.deepEqual([patch.status, patch.body], [200, {v: 2}])
    const del = await call('DELETE', '/item')
    assert.deepEqual([del.status, del.body], [200, {deleted: true}])
    const requests = ofKind(node.events, 'request').map((event) => event.request as Record<string, unknown>)
    for (const request of requests) assert.deepEqual(Object.keys(request).sort(), REQUEST_KEYS, 'all six keys, always')
    const post = requests.find((request) => request.request_type === 'POST')
    assert.deepEqual(post?.data, data, 'data travels as JSON, not re-encoded as a string')
    const get = requests.find((request) => request.request_type === 'GET' && request.router === '/home')
    assert.deepEqual(get?.params, {key: 'value'})
  })

  it('stream() yields 0..4 and ends at the terminator', async () => {
    assert.deepEqual(await collect(gateway!.stream(NODE_ID, '/stream', {params: {n: 5}})), [0, 1, 2, 3, 4])
  })

  it('a 1000-item stream the node writes back to back: every item, in order', async () => {
    const items = await collect(gateway!.stream(NODE_ID, '/stream', {params: {n: 1000}}))
    assert.deepEqual(items, Array.from({length: 1000}, (_, n) => n))
  })

  it('an unknown route rejects with status 404; so does an unknown stream route (not an empty stream)', async () => {
    await assert.rejects(call('GET', '/nope'), remoteFailure(404))
    await assert.rejects(collect(gateway!.stream(NODE_ID, '/no-such-stream')), remoteFailure(404))
  })

  it('a handler that throws on the node gives status 500', async () => {
    await assert.rejects(call('GET', '/boom'), remoteFailure(500))
  })

  it('requests in flight together: each reaches the one-member-per-packet node in a packet of its own', async () => {
    const results = await Promise.all(
      Array.from({length: 30}, (_, n) => (n % 2 ? call('POST', '/create', {data: {n}}) : call('GET', '/home'))),
    )
    for (const [n, result] of results.entries()) {
      assert.equal(result.status, 200)
      assert.deepEqual(result.body, n % 2 ? {n} : {home: 'router'})
    }

    assert.deepEqual(ofKind(node.events, 'error'), [], 'the node never got a packet with two gzip members or part of one')
  })

  it('closing the gateway ends the connection: the Python node exits cleanly', async () => {
    await gateway!.close()
    const {code, stderr, timedOut} = await node.exited
    assert.equal(timedOut, false)
    assert.equal(code, 0, `stderr: ${stderr}`)
    assert.deepEqual(ofKind(node.events, 'error'), [])
  })
})
