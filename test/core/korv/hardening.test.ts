// The korv server under pressure: grace time and startup cap from the TCP accept, backpressure on
// clients that do not read, budgets for partially decoded input, channel caps, unserialisable and
// deep JSON, and a log line with the status that went out for every reply.
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, before, describe, it} from 'node:test'
import zlib from 'node:zlib'
import type {KorvRequestLog} from '../../../src/core/korv/channel-session.js'
import type {KorvServerEvent} from '../../../src/core/korv/server.js'
import {closedWithin, deepJsonText, deepValue, floodConnectionsAtOnce, hostileTcp} from '../../helpers/hostile.js'
import {type KorvKeys, type RunningKorv, connectRaw, makeKorvKeys, openRawChannel, startKorv} from '../../helpers/korv-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {waitFor, waitForEvent} from '../../helpers/wait.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Bytes the server holds partially decoded, across all connections (white-box: the budget is private). */
const heldPartial = (korv: RunningKorv): number => (korv.server as unknown as {decodeBudget: {held: number}}).decodeBudget.held

/** A compressed gzip member of a STORE request whose body is `size` bytes, without its 8-byte trailer. */
function partialMember(id: number, size: number): {head: Buffer; trailer: Buffer} {
  const member = zlib.gzipSync(JSON.stringify({body: 'x'.repeat(size), id, resource: '/len', verb: 'STORE'}))
  return {head: member.subarray(0, member.length - 8), trailer: member.subarray(member.length - 8)}
}

describe('korv server hardening', () => {
  const dir = useTempDir()
  let keys: KorvKeys
  const running: RunningKorv[] = []
  const start = async (...args: Parameters<typeof startKorv> extends [unknown, ...infer Rest] ? Rest : never): Promise<RunningKorv> => {
    const korv = await startKorv(keys, ...args)
    running.push(korv)
    return korv
  }

  before(async () => {
    keys = await makeKorvKeys(dir())
  })
  after(async () => {
    await Promise.all(running.map((korv) => korv.handle.close({drainMs: 0})))
  })

  it('closes a connection that sends nothing, or only an SSH ident, within the grace time from the accept', async () => {
    const events: KorvServerEvent[] = []
    const korv = await start({loginGraceMs: 300, onEvent: (event) => events.push(event)})
    const silent = await hostileTcp({port: korv.port}, 'silence')
    const half = await hostileTcp({port: korv.port}, 'half-ssh')
    assert.equal(await closedWithin(silent, 3000), true, 'a silent connection is closed')
    assert.equal(await closedWithin(half, 3000), true, 'a connection that stops after its ident is closed')
    assert.ok(events.some((event) => event.type === 'startup-refused' && event.reason === 'grace'))
  })

  it('closes connections still authenticating on shutdown instead of waiting out their grace time', async () => {
    const korv = await start({loginGraceMs: 60_000})
    const silent = await hostileTcp({port: korv.port}, 'silence')
    const half = await hostileTcp({port: korv.port}, 'half-ssh')
    // The server's SSH ident on each socket: both are admitted and authenticating.
    await Promise.all([silent, half].map((socket) => waitForEvent(socket, 'data', 5000)))
    const closing = korv.handle.close({drainMs: 0}).then(() => 'closed')
    assert.equal(await Promise.race([closing, sleep(5000).then(() => 'still waiting')]), 'closed')
    assert.equal(await closedWithin(silent, 1000), true)
    assert.equal(await closedWithin(half, 1000), true)
  })

  it('refuses connections beyond --max-startups at once and keeps serving authenticated clients', async () => {
    const events: KorvServerEvent[] = []
    const korv = await start({loginGraceMs: 10_000, maxStartups: 3, onEvent: (event) => events.push(event)}, (server) => server.route('GET', '/hello', () => 'hi'))
    const client = await korv.connect()
    const flood = await floodConnectionsAtOnce({port: korv.port}, 12)
    try {
      // Refused at once means refused for the cap, long before the 10 s grace: the server's events say which.
      const capped = (): number => events.filter((event) => event.type === 'startup-refused' && event.reason === 'cap').length
      await waitFor(() => capped() >= flood.length - 3, 9000, 'the refusals for the cap')
      assert.equal(capped(), flood.length - 3, 'all but 3 are refused for the cap')
      for (const socket of flood) socket.resume()
      await waitFor(() => flood.filter((socket) => socket.destroyed || socket.readableEnded).length >= flood.length - 3, 9000, 'the refused connections to close')
      assert.equal((await client.request('GET', '/hello')).body, 'hi', 'the authenticated client is served during the flood')
    } finally {
      for (const socket of flood) socket.destroy()
      await client.close()
    }

    const late = await waitFor(() => korv.connect().catch(() => undefined), 5000, 'a place freed for a new connection')
    assert.equal((await late.request('GET', '/hello')).body, 'hi', 'places free up when the flood ends')
    await late.close()
  })

  it('stops starting handlers for a channel whose replies are not read, and answers all once it reads', async () => {
    let calls = 0
    const reply = randomBytes(48 * 1024).toString('base64')
    const korv = await start({}, (server) =>
      server.route('GET', '/big', () => {
        calls++
        return reply
      }),
    )
    const raw = await openRawChannel(korv.port, keys.clientKey)
    raw.channel.pause()
    const total = 3000
    for (let id = 1; id <= total; id++) raw.send({body: null, id, resource: '/big', verb: 'GET'})
    // Wait until the server stops starting handlers (or has run them all), within 15 s: a count that
    // holds still for 500 ms is what shows it stopped, so this sleep is the point, not a wait for an event.
    for (let last = -1, waited = 0; calls !== last && calls < total && waited < 15_000; waited += 500) {
      last = calls
      await sleep(500)
    }
    assert.ok(calls < total / 2, `${calls} of ${total} handlers ran while the client read nothing`)
    raw.channel.resume()
    try {
      const responses = await raw.waitFor(total)
      assert.equal(responses.length, total)
      // A burst of 3,000 may meet the in-flight cap (503) before backpressure starts; every one is answered.
      assert.deepEqual(responses.filter((response) => response.code !== 200 && response.code !== 503), [])
      assert.ok(responses.filter((response) => response.code === 200).length > calls / 2)
    } finally {
      raw.end()
    }
  })

  it('caps what one connection holds partially decoded across its channels (413), and releases it on completion', async () => {
    const korv = await start({maxMessageBytes: 4 * 1024 * 1024, maxPartialBytesPerConnection: 1024 * 1024}, (server) =>
      server.route('STORE', '/len', (req) => (req.body as string).length),
    )
    const ssh = await connectRaw(korv.port, keys.clientKey)
    const channels = [await openRawChannel(korv.port, keys.clientKey, 'gzip', ssh), await openRawChannel(korv.port, keys.clientKey, 'gzip', ssh)]
    const members = [partialMember(1, 400_000), partialMember(2, 400_000), partialMember(3, 400_000)]
    channels[0]!.channel.write(members[0]!.head)
    channels[1]!.channel.write(members[1]!.head)
    await waitFor(() => heldPartial(korv) >= 800_000, 5000, 'two 400,000-byte members held')
    const third = await openRawChannel(korv.port, keys.clientKey, 'gzip', ssh)
    third.channel.write(members[2]!.head)
    await third.closed
    assert.equal(third.responses[0]?.code, 413)
    assert.match(String((third.responses[0]?.body as {error: string}).error), /unfinished messages/)

    const other = await korv.connect()
    assert.equal((await other.request('STORE', '/len', 'abc')).body, 3, 'another connection is unaffected')
    channels[0]!.channel.write(members[0]!.trailer)
    assert.equal((await channels[0]!.waitFor(1))[0]?.body, 400_000, 'the held member completes')
    const again = await openRawChannel(korv.port, keys.clientKey, 'gzip', ssh)
    again.channel.write(Buffer.concat([members[2]!.head, members[2]!.trailer]))
    assert.equal((await again.waitFor(1))[0]?.body, 400_000, 'the budget was released')
    await other.close()
    ssh.end()
  })

  it('shares a server-wide budget fairly: over it, the connection holding the most loses a channel (503); others keep working', async () => {
    const korv = await start({maxPartialBytesPerConnection: 1024 * 1024, maxPartialBytesTotal: 1024 * 1024}, (server) =>
      server.route('STORE', '/len', (req) => (req.body as string).length).route('GET', '/hello', () => 'hi'),
    )
    const greedy = await connectRaw(korv.port, keys.clientKey)
    const a1 = await openRawChannel(korv.port, keys.clientKey, 'gzip', greedy)
    const a2 = await openRawChannel(korv.port, keys.clientKey, 'gzip', greedy)
    const b = await openRawChannel(korv.port, keys.clientKey, 'ndjson')
    const c = await openRawChannel(korv.port, keys.clientKey, 'gzip')
    a1.channel.write(partialMember(1, 300_000).head)
    a2.channel.write(partialMember(2, 300_000).head)
    // An NDJSON line that has not ended yet is held too.
    b.channel.write(`{"id":3,"verb":"STORE","resource":"/len","body":"${'y'.repeat(300_000)}`)
    await waitFor(() => heldPartial(korv) >= 900_000, 5000, 'three 300,000-byte messages held')
    const modest = partialMember(4, 300_000)
    c.channel.write(modest.head)
    await a1.closed
    assert.equal(a1.responses[0]?.code, 503, 'the greedy connection gives way')
    assert.match(String((a1.responses[0]?.body as {error: string}).error), /retry later/)
    c.channel.write(modest.trailer)
    assert.equal((await c.waitFor(1))[0]?.body, 300_000, 'the modest connection is served')
    b.channel.write('"}\n')
    assert.equal((await b.waitFor(1))[0]?.body, 300_000)

    // Now the newcomer is the one holding the most: it is refused itself.
    const d = await openRawChannel(korv.port, keys.clientKey, 'gzip')
    d.channel.write(partialMember(5, 900_000).head)
    await d.closed
    assert.equal(d.responses[0]?.code, 503)
    assert.equal(a2.responses.length, 0, 'the others keep what they hold')
    const client = await korv.connect()
    assert.equal((await client.request('GET', '/hello')).body, 'hi')
    await client.close()
    for (const raw of [b, c, d]) raw.end()
    greedy.end()
  })

  it('refuses channels beyond --max-channels on one connection', async () => {
    const korv = await start({maxChannels: 2}, (server) => server.route('GET', '/hello', () => 'hi'))
    const ssh = await connectRaw(korv.port, keys.clientKey)
    const first = await openRawChannel(korv.port, keys.clientKey, 'gzip', ssh)
    await openRawChannel(korv.port, keys.clientKey, 'ndjson', ssh)
    await assert.rejects(openRawChannel(korv.port, keys.clientKey, 'gzip', ssh))
    first.channel.close()
    await first.closed
    const third = await waitFor(() => openRawChannel(korv.port, keys.clientKey, 'gzip', ssh).catch(() => undefined), 5000, 'a channel place freed')
    third.send({body: null, id: 1, resource: '/hello', verb: 'GET'})
    assert.equal((await third.waitFor(1))[0]?.body, 'hi')
    ssh.end()
  })

  it('answers 500 to an unserialisable or 100,000-deep reply, and survives 100,000-deep request bodies, in both framings', async () => {
    const logs: KorvRequestLog[] = []
    const korv = await start({onRequest: (entry) => logs.push(entry)}, (server) =>
      server
        .route('GET', '/deep', () => deepValue(100_000))
        .route('GET', '/bigint', () => ({n: 10n}))
        .route('STORE', '/echo', (req) => req.body)
        .route('STORE', '/ignore', () => 'ok')
        .route('GET', '/hello', () => 'hi'),
    )
    const deepBody = deepJsonText(100_000, 'object')
    for (const kind of ['gzip', 'ndjson'] as const) {
      const raw = await openRawChannel(korv.port, keys.clientKey, kind)
      raw.send({body: null, id: 1, resource: '/deep', verb: 'GET'})
      raw.send({body: null, id: 2, resource: '/bigint', verb: 'GET'})
      for (const [id, resource] of [[3, '/echo'], [4, '/ignore']] as const) {
        const text = `{"id":${id},"verb":"STORE","resource":"${resource}","body":${deepBody}}`
        raw.channel.write(kind === 'gzip' ? zlib.gzipSync(text) : text + '\n')
      }
      raw.send({body: null, id: 5, resource: '/hello', verb: 'GET'})
      const responses = await raw.waitFor(5)
      const code = (id: number): number | undefined => responses.find((response) => response.request_id === id)?.code
      assert.deepEqual([1, 2, 3, 4, 5].map(code), [500, 500, 500, 200, 200], kind)
      assert.match(String((responses.find((response) => response.request_id === 1)?.body as {message: string}).message), /nested too deeply/)
      raw.end()
    }

    assert.deepEqual(logs.filter((entry) => entry.path === '/bigint').map((entry) => entry.code), [500, 500], 'the log says 500, not the 200 the handler meant')
  })

  it('logs every reply with the status that went out: 400 unreadable, 503 over the in-flight cap, framing errors', async () => {
    const logs: KorvRequestLog[] = []
    const korv = await start({maxInFlight: 1, onRequest: (entry) => logs.push(entry)}, (server) =>
      server.route('GET', '/slow', () => sleep(100).then(() => 'done')),
    )
    const raw = await openRawChannel(korv.port, keys.clientKey)
    raw.channel.write(zlib.gzipSync('{not json'))
    raw.send({body: null, id: 1, resource: '/slow', verb: 'GET'})
    raw.send({body: null, id: 2, resource: '/slow?secret=1', verb: 'GET'})
    await raw.waitFor(3)
    raw.channel.write('this is not gzip at all')
    await raw.closed
    await waitFor(() => logs.length >= 4, 5000, 'four request log lines')
    const codes = logs.map((entry) => `${entry.verb} ${entry.path} ${entry.code}`).sort()
    assert.deepEqual(codes, ['- - 400', '- - 400', 'GET /slow 200', 'GET /slow 503'])
    raw.end()
  })

  it('sends no stack trace in 500 bodies unless asked (library default)', async () => {
    const korv = await start({}, (server) =>
      server.route('GET', '/boom', () => {
        throw new Error('secret detail')
      }),
    )
    const client = await korv.connect()
    assert.deepEqual((await client.request('GET', '/boom')).body, {message: 'secret detail'})
    await client.close()
  })
})
