// Compatibility with Korv 0.2's Python peers (PROTOCOLS.md §1): its client against restwire's server,
// restwire's client against its server. The peers (test/fixtures/korv02/) run on asyncssh under the
// system Python, and keep the predecessor's quirks: one packet = one message, float ids, a stray
// request_id-0 400 before STORE/UPDATE answers, no EOF ever.
import assert from 'node:assert/strict'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'
import type {RestwireError} from '../../src/core/errors.js'
import type {KorvRequestLog} from '../../src/core/korv/channel-session.js'
import {KorvClient} from '../../src/core/korv/client.js'
import type {KorvResponseMessage} from '../../src/core/korv/messages.js'
import {RESTWIRE_IDENT} from '../../src/core/korv/defaults.js'
import {type KorvKeys, type RunningKorv, makeKorvKeys, startKorv} from '../helpers/korv-fixture.js'
import {type PeerEvent, type PeerRun, killPythonPeers, runPythonPeer} from '../helpers/python-peer.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout} from '../helpers/tools.js'

const PEERS = fileURLToPath(new URL('../fixtures/korv02/', import.meta.url))
const runPeer = (script: string, args: string[]): PeerRun => runPythonPeer(PEERS, script, args)

const skipReason = skipWithout('python3-asyncssh')

/** `[host]:port key` for a known_hosts file, from the host key's .pub file. */
async function knownHostsLine(keys: KorvKeys, port: number): Promise<string> {
  const [type, base64] = (await readFile(`${keys.hostKeyPath}.pub`, 'utf8')).trim().split(' ')
  return `[127.0.0.1]:${port} ${type} ${base64}\n`
}

const ofKind = (events: PeerEvent[], kind: string): PeerEvent[] => events.filter((event) => event.event === kind)
const sentIds = (events: PeerEvent[]): number[] => ofKind(events, 'sent').map((event) => (event.request as {id: number}).id)
const responses = (events: PeerEvent[]): KorvResponseMessage[] => ofKind(events, 'response').map((event) => event.message as KorvResponseMessage)

describe('korv: the Korv 0.2 Python client against restwire\'s server', {skip: skipReason}, () => {
  const dir = useTempDir('restwire-korv02-client-')
  let korv: RunningKorv
  let knownHosts: string
  const logs: KorvRequestLog[] = []
  const protocolErrors: RestwireError[] = []

  before(async () => {
    const keys = await makeKorvKeys(dir())
    korv = await startKorv(
      keys,
      {onEvent: (event) => event.type === 'protocol-error' && protocolErrors.push(event.error), onRequest: (entry) => logs.push(entry)},
      (server) =>
        server
          .route('GET', '/hello', () => ({msg: 'Hello World!'}))
          .route('STORE', '/echo', ({body}) => body)
          .route('UPDATE', '/echo', ({body}) => ({updated: body}))
          .route('DELETE', '/things/:id', ({params}) => ({deleted: params.id})),
    )
    knownHosts = join(dir(), 'python_known_hosts')
    await writeFile(knownHosts, await knownHostsLine(keys, korv.port))
  })

  after(async () => {
    killPythonPeers()
    await korv?.handle.close({drainMs: 100})
  })

  /** Runs the Python client to completion and checks what every run must show. */
  async function runClient(requests: Array<[string, string, unknown]>, options: {burst?: boolean} = {}): Promise<PeerEvent[]> {
    const args = ['--port', String(korv.port), '--key', korv.keys.clientKeyPath, '--known-hosts', knownHosts, '--requests', JSON.stringify(requests)]
    const client = runPeer('client.py', options.burst ? [...args, '--burst'] : args)
    const {code, stderr, timedOut} = await client.exited
    const {events} = client
    assert.equal(timedOut, false, `the Python client hung; stderr: ${stderr}`)
    assert.deepEqual(ofKind(events, 'error'), [], 'every packet restwire sent is exactly one gzip member')
    assert.deepEqual(ofKind(events, 'eof'), [], 'restwire never half-closes toward a Korv peer')
    assert.deepEqual(ofKind(events, 'unmatched'), [])
    assert.equal(code, 0, `the Python client did not get every answer: ${JSON.stringify(ofKind(events, 'done'))}; stderr: ${stderr}`)
    const [connected] = ofKind(events, 'connected')
    assert.ok(String(connected?.server_version).startsWith(`SSH-2.0-${RESTWIRE_IDENT}`))
    const ids = sentIds(events)
    assert.equal(new Set(ids).size, requests.length, 'the client sent one float id per request')
    for (const sent of ofKind(events, 'sent')) assert.match(String(sent.wire), /^\{"id":\d+\.\d+,/, 'Korv ids are float timestamps')
    return events
  }

  it('GET /hello: restwire echoes the float timestamp id verbatim as request_id', async () => {
    const events = await runClient([['GET', '/hello', null]])
    const [response] = responses(events)
    assert.equal(response?.request_id, sentIds(events)[0])
    assert.equal(response?.code, 200)
    assert.deepEqual(response?.body, {msg: 'Hello World!'})
  })

  it('STORE, UPDATE and DELETE with bodies', async () => {
    const body = {list: [1, 2.5, null], name: 'ada', text: 'héllo ✓'}
    const events = await runClient([
      ['STORE', '/echo', body],
      ['UPDATE', '/echo', 'v2'],
      ['DELETE', '/things/7', null],
    ])
    const [stored, updated, deleted] = responses(events)
    assert.deepEqual([stored?.code, stored?.body], [200, body])
    assert.deepEqual([updated?.code, updated?.body], [200, {updated: 'v2'}])
    assert.deepEqual([deleted?.code, deleted?.body], [200, {deleted: '7'}])
  })

  it('answers 404 for an unknown resource', async () => {
    const [response] = responses(await runClient([['GET', '/nope', null]]))
    assert.equal(response?.code, 404)
  })

  it('several requests in sequence on one channel, each answered with its own id', async () => {
    const requests: Array<[string, string, unknown]> = Array.from({length: 12}, (_, n) =>
      n % 3 === 0 ? ['GET', '/hello', null] : n % 3 === 1 ? ['STORE', '/echo', {n}] : ['GET', `/missing/${n}`, null],
    )
    const events = await runClient(requests)
    const answers = responses(events)
    assert.deepEqual(
      answers.map((answer) => answer.request_id),
      sentIds(events),
    )
    for (const [n, answer] of answers.entries()) {
      if (n % 3 === 0) assert.deepEqual(answer.body, {msg: 'Hello World!'})
      else if (n % 3 === 1) assert.deepEqual(answer.body, {n})
      else assert.equal(answer.code, 404)
    }
  })

  it('a burst of requests in flight: the server sees a non-restwire ident and sends one message per packet', async () => {
    // Answers to a burst complete together; coalesced into one write they would reach this client as a
    // packet of several gzip members, which it cannot read (runClient fails on any such packet).
    const large = 'x'.repeat(20_000) // still fits the 32 KiB packets the client advertises
    const requests: Array<[string, string, unknown]> = Array.from({length: 60}, (_, n) =>
      n === 30 ? ['STORE', '/echo', {large}] : n % 2 ? ['STORE', '/echo', {n}] : ['GET', '/hello', null],
    )
    const events = await runClient(requests, {burst: true})
    const ids = sentIds(events)
    const byId = new Map(responses(events).map((answer) => [answer.request_id, answer]))
    assert.equal(byId.size, requests.length)
    for (const [n, id] of ids.entries()) {
      const answer = byId.get(id)
      assert.ok(answer, `no answer for request ${n}`)
      if (n === 30) assert.deepEqual(answer.body, {large})
      else assert.deepEqual(answer.body, n % 2 ? {n} : {msg: 'Hello World!'})
    }

    assert.ok(logs.filter((log) => log.code === 200).length >= requests.length)
    assert.deepEqual(protocolErrors, [], 'each request packet from the client decoded as one gzip member')
  })
})

describe('korv: restwire\'s client against the Korv 0.2 Python server', {skip: skipReason}, () => {
  const dir = useTempDir('restwire-korv02-server-')
  let keys: KorvKeys
  let server: PeerRun
  let port: number
  let client: KorvClient

  const connect = (): Promise<KorvClient> =>
    KorvClient.connect({hostKeyPolicy: 'strict', identities: [keys.clientKey], knownHostsPath: keys.knownHostsPath, port, requestTimeoutMs: 20_000})

  before(async () => {
    keys = await makeKorvKeys(dir())
    server = runPeer('server.py', ['--host-key', keys.hostKeyPath, '--authorized-keys', keys.authorizedKeysPath])
    port = (await server.waitFor((event) => event.event === 'listening')).port as number
    await writeFile(keys.knownHostsPath, await knownHostsLine(keys, port))
    client = await connect()
  })

  after(async () => {
    await client?.close()
    killPythonPeers()
  })

  const sent = (requestId: unknown): Promise<PeerEvent> =>
    server.waitFor((event) => event.event === 'sent' && (event.message as KorvResponseMessage).request_id === requestId)

  /** Whether the server wrote a stray request_id-0 400 right before its answer to `requestId`. */
  async function strayBefore(requestId: number): Promise<boolean> {
    const answer = await sent(requestId)
    const previous = server.events[server.events.indexOf(answer) - 1]
    const message = previous?.message as KorvResponseMessage | undefined
    return previous?.event === 'sent' && message?.request_id === 0 && message.code === 400
  }

  it('GET /hello, with the server\'s host key checked strictly against known_hosts', async () => {
    const response = await client.request('GET', '/hello')
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, {msg: 'Hello World!'})
  })

  it('STORE: the stray request_id-0 400 sent before the answer is ignored', async () => {
    const body = {list: [1, 2, 3], text: 'héllo ✓'}
    const response = await client.request('STORE', '/echo', body)
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, body)
    assert.ok(await strayBefore(response.requestId), 'the server really did send the stray message, right before the answer')
  })

  it('answers 404 for an unknown resource (UPDATE too, after its stray 400)', async () => {
    const missing = await client.request('GET', '/nope')
    assert.equal(missing.status, 404)
    assert.equal(missing.body, null)
    const update = await client.request('UPDATE', '/echo', {x: 1})
    assert.equal(update.status, 404)
    assert.ok(await strayBefore(update.requestId))
  })

  it('many requests in flight on one channel, each matched to its answer', async () => {
    const count = 200
    const results = await Promise.all(
      Array.from({length: count}, (_, n) => (n % 2 ? client.request('STORE', '/echo', {n}) : client.request('GET', '/hello'))),
    )
    for (const [n, result] of results.entries()) {
      assert.equal(result.status, 200)
      assert.deepEqual(result.body, n % 2 ? {n} : {msg: 'Hello World!'})
    }

    assert.equal(new Set(results.map((result) => result.requestId)).size, count)
    const stores = results.filter((_, n) => n % 2)
    const strays = await Promise.all(stores.map((result) => strayBefore(result.requestId)))
    assert.ok(strays.every(Boolean), 'a stray 400 came before every STORE answer, and each was ignored')
    assert.equal(client.inFlight, 0)
  })

  it('restwire\'s client never half-closes: the server sees the channel close without EOF', async () => {
    const closesBefore = ofKind(server.events, 'channel-closed').length
    const second = await connect()
    assert.equal((await second.request('GET', '/hello')).status, 200)
    await second.close()
    const closed = await server.waitFor((event) => event.event === 'channel-closed' && ofKind(server.events, 'channel-closed').indexOf(event) >= closesBefore)
    assert.equal(closed.eof, false)
    assert.deepEqual(ofKind(server.events, 'eof'), [])
  })
})
