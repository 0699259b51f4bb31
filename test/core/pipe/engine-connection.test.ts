// The pipe connection engine fed bytes, with no socket and a fake clock: HELLO, heartbeats and the
// silence timeout, GOAWAY both ways, and every malformed frame the wire format (docs/pipe.md) and the
// code refuse: the connection ends with a GOAWAY saying why, or (a bad EVENT) only that event is reset.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {FLAG_END, FLAG_INLINE, FrameType, MAX_FRAME_PAYLOAD_BYTES, encodeFrame, encodeJsonFrame} from '../../../src/core/pipe/frames.js'
import {encodeEventMeta, encodeReplyMeta} from '../../../src/core/pipe/messages.js'
import {type Engine, dataFrame, eventFrame, helloFrame, json, rawHeader, replyFrame, startEngine, turn, typeOf, windowFrame} from '../../helpers/pipe-engine.js'

const GET = {args: [], noun: 'x', verb: 'GET'}
const never = (): Promise<never> => new Promise(() => {})

/** The connection ended for a protocol error: one GOAWAY naming it, the transport ended, later input ignored. */
function assertRefused(engine: Engine, reason: RegExp, name: string): void {
  assert.equal(engine.closes.length, 1, name)
  assert.match(engine.closes[0]!.reason, reason, name)
  assert.equal(engine.closes[0]!.error?.code, 'RW_ERR_PROTOCOL', name)
  const goaways = engine.sent().filter((frame) => frame.type === FrameType.GOAWAY)
  assert.equal(goaways.length, 1, name)
  assert.match((json(goaways[0]!) as {reason: string}).reason, reason, name)
  assert.ok(engine.transport.ended, name)
  assert.ok(engine.connection.closed, name)
  engine.push(encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)))
  assert.deepEqual(engine.sent(), [], `${name}: nothing written after the close`)
  assert.equal(engine.closes.length, 1, name)
}

/** Opens stream 1 (our event, no reply yet) and stream 2 (the peer's event, its handler still running). */
function withStreams(options: Parameters<typeof startEngine>[0] = {}): Engine {
  const engine = startEngine({handler: never, ...options})
  engine.connection.request(GET, {timeoutMs: 60_000}).catch(() => {})
  engine.push(eventFrame(2, GET, Buffer.alloc(0), 0))
  return engine
}

describe('pipe connection engine: HELLO, heartbeats, GOAWAY', () => {
  it('sends its HELLO first and reports the peer\'s once', async () => {
    const engine = startEngine({hello: false, heartbeatMs: 2000})
    await turn()
    const [hello] = engine.sent()
    assert.equal(typeOf(hello!), 'HELLO')
    assert.deepEqual(json(hello!), {heartbeatMs: 2000, role: 'hub', version: 2})
    assert.equal(engine.hellos, 0)
    engine.push(helloFrame('node'))
    assert.equal(engine.hellos, 1)
    assert.equal(engine.connection.closed, false)
  })

  it('pings every heartbeat, answers a PING with its bytes, ignores a PONG', async () => {
    const engine = startEngine({heartbeatMs: 1000})
    await turn()
    engine.sent()
    engine.clock.advance(1000)
    await turn()
    const [ping] = engine.sent()
    assert.equal(typeOf(ping!), 'PING')
    assert.equal(ping!.payload.length, 8)
    const payload = Buffer.from('01234567')
    engine.push(encodeFrame(FrameType.PING, 0, 0, payload), encodeFrame(FrameType.PONG, 0, 0, Buffer.alloc(8)))
    await turn()
    const [pong, ...rest] = engine.sent()
    assert.equal(typeOf(pong!), 'PONG')
    assert.ok(pong!.payload.equals(payload))
    assert.deepEqual(rest, [])
  })

  it('does not answer PINGs while 64 KiB of output wait for the peer', async () => {
    const engine = startEngine()
    await turn()
    engine.sent()
    engine.transport.writableLength = 64 * 1024
    engine.push(encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)))
    await turn()
    assert.deepEqual(engine.sent(), [])
  })

  it('drops a silent peer after the heartbeat timeout: GOAWAY, RW_ERR_TIMEOUT, events in flight fail 503', async () => {
    const engine = startEngine({heartbeatMs: 1000})
    const pending = engine.connection.request(GET, {timeoutMs: 60_000})
    engine.clock.advance(2999)
    assert.equal(engine.connection.closed, false)
    engine.clock.advance(1)
    assert.equal(engine.closes[0]?.reason, 'no heartbeat from peer-a for 3000 ms')
    assert.equal(engine.closes[0]?.error?.code, 'RW_ERR_TIMEOUT')
    assert.ok(engine.transport.ended)
    assert.ok(engine.sent().some((frame) => frame.type === FrameType.GOAWAY))
    await assert.rejects(pending, (error: {code: string; details: {status: number}}) => error.code === 'RW_ERR_CLOSED' && error.details.status === 503)
    assert.equal(engine.clock.pending, 0, 'no timer left behind')
  })

  it('a stall of this process is not a silent peer: a late silence timer gives the peer one more period, once', () => {
    const engine = startEngine({heartbeatMs: 1000})
    engine.clock.stall(10_000)
    engine.clock.advance(0)
    assert.equal(engine.connection.closed, false, 'bytes may be waiting unread behind the stall')
    engine.push(encodeFrame(FrameType.PONG, 0, 0, Buffer.alloc(8)))
    engine.clock.stall(10_000)
    engine.clock.advance(0)
    assert.equal(engine.connection.closed, false, 'a sign of life gives the next stall its grace again')
    engine.clock.advance(2999)
    assert.equal(engine.connection.closed, false)
    engine.clock.advance(1)
    assert.equal(engine.closes[0]?.reason, 'no heartbeat from peer-a for 3000 ms', 'a peer still silent after the grace is dropped')
  })

  it('counts any bytes from the peer, and a drained socket, as signs of life', () => {
    const engine = startEngine({heartbeatMs: 1000, heartbeatTimeoutMs: 3000})
    engine.clock.advance(2500)
    engine.push(encodeFrame(FrameType.PONG, 0, 0, Buffer.alloc(8)))
    engine.clock.advance(2500)
    engine.connection.writable()
    engine.clock.advance(2500)
    assert.equal(engine.connection.closed, false)
    engine.clock.advance(500)
    assert.equal(engine.connection.closed, true)
  })

  it('close() says why in a GOAWAY, ends the transport, fails events in flight, and refuses new ones', async () => {
    const engine = startEngine()
    const pending = engine.connection.request(GET, {timeoutMs: 60_000})
    engine.connection.close('going home')
    engine.connection.close('twice')
    const frames = engine.sent()
    assert.deepEqual(frames.map(typeOf), ['HELLO', 'EVENT', 'GOAWAY'])
    assert.deepEqual(json(frames[2]!), {reason: 'going home'})
    assert.deepEqual(engine.closes, [{error: undefined, reason: 'going home'}])
    assert.ok(engine.transport.ended)
    assert.equal(engine.transport.destroyed, false, 'ended, not destroyed: the GOAWAY must reach the peer')
    await assert.rejects(pending, /the connection to peer-a is closed: going home/)
    await assert.rejects(engine.connection.request(GET, {timeoutMs: 1000}), (error: {details: {status: number}}) => error.details.status === 503)
  })

  it("the peer's GOAWAY (even before HELLO, even unreadable) ends the connection with its reason", async () => {
    const engine = startEngine({hello: false})
    engine.push(encodeJsonFrame(FrameType.GOAWAY, 0, 0, {reason: 'refused: no client certificate'}))
    assert.equal(engine.closes[0]?.reason, 'the peer closed the connection: refused: no client certificate')
    assert.equal(engine.closes[0]?.error, undefined)
    assert.ok(engine.transport.destroyed)
    const other = startEngine()
    const pending = other.connection.request(GET, {timeoutMs: 60_000})
    other.push(encodeFrame(FrameType.GOAWAY, 0, 0, Buffer.from('{not json')))
    assert.equal(other.closes[0]?.reason, 'the peer closed the connection: no reason given')
    await assert.rejects(pending, /no reason given/)
  })

  it('the transport lost: events in flight fail at once, nothing more is written', async () => {
    const engine = startEngine()
    const pending = engine.connection.request(GET, {timeoutMs: 60_000})
    engine.connection.lost('connection error: read ECONNRESET')
    await assert.rejects(pending, /connection error: read ECONNRESET/)
    assert.ok(engine.transport.destroyed)
    await turn()
    assert.deepEqual(engine.sent(), [])
  })
})

describe('pipe connection engine: malformed frames end the connection with a GOAWAY', () => {
  const header = rawHeader
  const cases: Array<[string, Buffer, RegExp]> = [
    ['unknown type 0', header(0, 0, 0, 1, 0), /unknown frame type 0x0/],
    ['unknown type 10', header(10, 0, 0, 1, 0), /unknown frame type 0xa/],
    ['HTTP text', Buffer.from('GET / HTTP/1.1\r\n\r\n'), /unknown frame type 0x47/],
    ['unknown flags', header(FrameType.DATA, 0x04, 0, 1, 0), /unknown flags 0x4 on a DATA frame/],
    ['reserved bits', header(FrameType.DATA, 0, 0x8000, 1, 0), /reserved header bits set on a DATA frame/],
    ['INLINE on DATA', header(FrameType.DATA, FLAG_INLINE | FLAG_END, 0, 1, 2, Buffer.alloc(2)), /INLINE on a DATA frame/],
    ['INLINE on RESET', header(FrameType.RESET, FLAG_INLINE | FLAG_END, 0, 1, 2, Buffer.alloc(2)), /INLINE on a RESET frame/],
    ['INLINE without END', header(FrameType.EVENT, FLAG_INLINE, 0, 2, 2, Buffer.alloc(2)), /INLINE on a EVENT frame/],
    ['INLINE without room for its length', header(FrameType.REPLY, FLAG_INLINE | FLAG_END, 0, 1, 1, Buffer.alloc(1)), /INLINE on a REPLY frame/],
    ...(['EVENT', 'DATA', 'REPLY', 'RESET', 'WINDOW'] as const).map((name): [string, Buffer, RegExp] => [`${name} on stream 0`, header(FrameType[name], 0, 0, 0, 0), new RegExp(`a ${name} frame on stream 0`)]),
    ...(['HELLO', 'PING', 'PONG', 'GOAWAY'] as const).map((name): [string, Buffer, RegExp] => [`${name} on stream 7`, header(FrameType[name], 0, 0, 7, 0), new RegExp(`a ${name} frame on stream 7`)]),
    ['a payload over 64 KiB (header alone)', header(FrameType.DATA, 0, 0, 2, MAX_FRAME_PAYLOAD_BYTES + 1), /65537 bytes exceeds the 65536 byte limit/],
    ['a second HELLO', helloFrame('node'), /a second HELLO/],
    ['an EVENT on a stream the hub opens (odd)', eventFrame(1, {args: [], noun: 'x', verb: 'GET'}), /an EVENT on stream 1, which the peer may not open/],
  ]
  for (const [name, bytes, reason] of cases) {
    it(`${name}`, () => {
      const engine = startEngine()
      engine.push(bytes)
      assertRefused(engine, reason, name)
    })
  }

  it('any first frame but HELLO or GOAWAY', () => {
    for (const [name, bytes] of [['EVENT', eventFrame(2, GET)], ['PING', encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8))], ['DATA', dataFrame(2, 'x')]] as const) {
      const engine = startEngine({hello: false})
      engine.push(bytes)
      assertRefused(engine, new RegExp(`expected HELLO, got ${name}`), name)
      assert.equal(engine.hellos, 0)
    }
  })

  it('a HELLO that is not a JSON object, or of another protocol version', () => {
    const deep = Buffer.from('['.repeat(32_000) + ']'.repeat(32_000))
    const hellos: Array<[string, Buffer, RegExp]> = [
      ['not JSON', Buffer.from('hello'), /HELLO is not a JSON object/],
      ['null', Buffer.from('null'), /HELLO is not a JSON object/],
      ['a number', Buffer.from('5'), /HELLO is not a JSON object/],
      ['version 1', Buffer.from('{"version":1,"role":"node","heartbeatMs":5000}'), /the peer speaks pipe protocol version 1, this side 2/],
      ['no version', Buffer.from('{"role":"node"}'), /pipe protocol version of type undefined/],
      ['32,000-deep', deep, /pipe protocol version of type undefined/],
    ]
    for (const [name, payload, reason] of hellos) {
      const engine = startEngine({hello: false})
      engine.push(encodeFrame(FrameType.HELLO, 0, 0, payload))
      assertRefused(engine, reason, name)
    }
  })

  it('an EVENT on a stream the node opens (even), at the node', () => {
    const engine = startEngine({role: 'node'})
    engine.push(eventFrame(2, GET))
    assertRefused(engine, /an EVENT on stream 2, which the peer may not open/, 'even stream at the node')
  })

  it('an EVENT on a stream that is already open', () => {
    const engine = withStreams()
    engine.push(eventFrame(2, GET))
    assertRefused(engine, /an EVENT on stream 2, which the peer may not open/, 'reopened')
  })

  it('a WINDOW whose payload is not a 4-byte increment', () => {
    for (const size of [0, 3, 5]) {
      const engine = withStreams()
      engine.push(encodeFrame(FrameType.WINDOW, 0, 1, Buffer.alloc(size)))
      assertRefused(engine, /a WINDOW frame without a 4-byte increment/, `${size} bytes`)
    }
  })

  it('DATA for our event before its REPLY', () => {
    const engine = withStreams()
    engine.push(dataFrame(1, 'early'))
    assertRefused(engine, /DATA on stream 1 before its REPLY/, 'early DATA')
  })

  it('DATA beyond the flow-control window, on an event body and on a reply body', () => {
    const event = withStreams({windowBytes: 16})
    event.push(dataFrame(2, Buffer.alloc(10)), dataFrame(2, Buffer.alloc(7)))
    assertRefused(event, /DATA on stream 2 beyond the flow-control window/, 'event body')
    const reply = withStreams({windowBytes: 16})
    reply.push(replyFrame(1, {code: 0, contentType: 'x'}), dataFrame(1, Buffer.alloc(17)))
    assertRefused(reply, /DATA on stream 1 beyond the flow-control window/, 'reply body')
  })

  it('a REPLY on the peer\'s own event, and a second REPLY', () => {
    const own = withStreams()
    own.push(replyFrame(2, {code: 0, contentType: 'x'}))
    assertRefused(own, /an unexpected REPLY on stream 2/, 'REPLY to the peer\'s event')
    const twice = withStreams()
    twice.push(replyFrame(1, {code: 0, contentType: 'x'}), replyFrame(1, {code: 0, contentType: 'x'}))
    assertRefused(twice, /an unexpected REPLY on stream 1/, 'second REPLY')
  })

  it('a REPLY whose metadata does not match its layout, or whose INLINE length runs past the frame', () => {
    const meta = encodeReplyMeta({code: 0, contentType: 'text/plain'})
    const replies: Array<[string, Buffer, RegExp]> = [
      ['truncated', encodeFrame(FrameType.REPLY, 0, 1, meta.subarray(0, 3)), /REPLY metadata does not match its layout/],
      ['trailing bytes', encodeFrame(FrameType.REPLY, 0, 1, Buffer.concat([meta, Buffer.from('!')])), /REPLY metadata does not match its layout/],
      ['INLINE length past the frame', encodeFrame(FrameType.REPLY, FLAG_INLINE | FLAG_END, 1, Buffer.from([0xff, 0xff, 0, 0])), /INLINE metadata length exceeds the frame/],
    ]
    for (const [name, bytes, reason] of replies) {
      const engine = withStreams()
      engine.push(bytes)
      assertRefused(engine, reason, name)
    }
  })

  it('a frame whose handling throws ends only that connection', () => {
    const engine = startEngine({
      hello: false,
      onHello() {
        throw new Error('boom')
      },
    })
    engine.push(helloFrame('node'))
    assertRefused(engine, /a frame could not be handled: boom/, 'throwing frame')
  })
})

describe('pipe connection engine: bad input that ends one event only', () => {
  it('an EVENT with invalid metadata gets RESET 400; the connection serves the next event', async () => {
    const engine = startEngine({handler: () => ({body: 'ok', code: 0, contentType: 'text/plain'})})
    const good = encodeEventMeta(GET)
    const bad: Array<[number, Buffer, string]> = [
      [2, encodeFrame(FrameType.EVENT, FLAG_END, 2, good.subarray(0, 4)), 'EVENT metadata does not match its layout'],
      [4, encodeFrame(FrameType.EVENT, FLAG_END, 4, Buffer.concat([good, Buffer.from('!')])), 'EVENT metadata does not match its layout'],
      [6, encodeFrame(FrameType.EVENT, FLAG_END, 6, encodeEventMeta({args: [], noun: 'x', verb: 'A'}).fill(0x31, 1, 2)), 'EVENT needs a verb made of letters'],
      [8, encodeFrame(FrameType.EVENT, FLAG_END, 8, encodeEventMeta({args: [], noun: '', verb: 'GET'})), 'EVENT needs a non-empty noun'],
      [10, encodeFrame(FrameType.EVENT, FLAG_INLINE | FLAG_END, 10, Buffer.from([0xff, 0xff, 1, 2])), 'INLINE metadata length exceeds the frame'],
    ]
    await turn()
    engine.sent()
    for (const [, bytes] of bad) engine.push(bytes)
    engine.push(eventFrame(12, GET))
    await turn()
    const frames = engine.sent()
    assert.deepEqual(frames.map((frame) => [typeOf(frame), frame.streamId]), [...bad.map(([id]) => ['RESET', id]), ['REPLY', 12]])
    for (const [index, [, , reason]] of bad.entries()) assert.deepEqual(json(frames[index]!), {code: 400, reason})
    assert.equal(engine.connection.closed, false)
  })

  it('events past maxInFlight get RESET 503', async () => {
    const engine = startEngine({handler: never, maxInFlight: 2})
    engine.push(eventFrame(2, GET), eventFrame(4, GET), eventFrame(6, GET))
    await turn()
    const resets = engine.sent().filter((frame) => frame.type === FrameType.RESET)
    assert.deepEqual(resets.map((frame) => [frame.streamId, json(frame)]), [[6, {code: 503, reason: 'too many events in flight'}]])
    assert.equal(engine.connection.inFlight, 2)
  })

  it('frames for a stream that has ended (or never was) are dropped', async () => {
    const engine = startEngine()
    await turn()
    engine.sent()
    engine.push(dataFrame(40, 'late'), windowFrame(40, 10), encodeJsonFrame(FrameType.RESET, 0, 40, {code: 504, reason: 'x'}), replyFrame(41, {code: 0, contentType: 'x'}))
    await turn()
    assert.deepEqual(engine.sent(), [])
    assert.equal(engine.connection.closed, false)
  })

  it('a RESET that is not JSON, or has a code outside 400–599, fails the event with 502', async () => {
    const engine = startEngine()
    const unreadable = engine.connection.request(GET, {timeoutMs: 60_000})
    const odd = engine.connection.request(GET, {timeoutMs: 60_000})
    const fine = engine.connection.request(GET, {timeoutMs: 60_000})
    engine.push(encodeFrame(FrameType.RESET, 0, 1, Buffer.from('{')), encodeJsonFrame(FrameType.RESET, 0, 3, {code: 200, reason: 'odd'}), encodeJsonFrame(FrameType.RESET, 0, 5, {code: 413, reason: 'too big'}))
    const status = (error: unknown): number => (error as {details: {status: number}}).details.status
    await assert.rejects(unreadable, (error) => status(error) === 502 && /peer-a reset the event: no reason given/.test(String(error)))
    await assert.rejects(odd, (error) => status(error) === 502)
    await assert.rejects(fine, (error) => status(error) === 413)
    assert.equal(engine.connection.closed, false)
  })
})
