// The stream part of the pipe engine fed bytes, with no socket and a fake clock: events and replies
// both ways, INLINE and streamed bodies, flow control (credit exhausted, WINDOW updates), reply
// deadlines, resets, and the read throttle.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import type {IncomingPipeEvent, ReplySpec} from '../../../src/core/pipe/event-types.js'
import {FLAG_END, FLAG_INLINE, type Frame, FrameType, encodeFrame, encodeJsonFrame} from '../../../src/core/pipe/frames.js'
import {parseEventMeta, parseReplyMeta} from '../../../src/core/pipe/messages.js'
import {dataFrame, eventFrame, json, replyFrame, startEngine, turn, typeOf, windowFrame} from '../../helpers/pipe-engine.js'

const GET = {args: [], noun: 'x', verb: 'GET'}
const never = (): Promise<never> => new Promise(() => {})
const shape = (frames: Frame[]): Array<[string, number, number, number]> => frames.map((frame) => [typeOf(frame), frame.streamId, frame.flags, frame.payload.length])
const status = (error: unknown): number => (error as {details: {status: number}}).details.status

/** Past HELLO: the frames written from here on. */
async function started(options: Parameters<typeof startEngine>[0] = {}): Promise<ReturnType<typeof startEngine>> {
  const engine = startEngine(options)
  await turn()
  engine.sent()
  return engine
}

describe('pipe stream engine: events and replies', () => {
  it('a small event goes out as one INLINE frame on the next odd (hub) or even (node) stream; an INLINE reply resolves it', async () => {
    const engine = await started()
    const first = engine.connection.request({...GET, body: 'hello', contentType: 'text/plain'}, {timeoutMs: 1000})
    const second = engine.connection.request(GET, {timeoutMs: 1000})
    await turn()
    const frames = engine.sent()
    assert.deepEqual(frames.map((frame) => [typeOf(frame), frame.streamId, frame.flags]), [['EVENT', 1, FLAG_INLINE | FLAG_END], ['EVENT', 3, FLAG_END]])
    const metaBytes = frames[0]!.payload.readUInt16BE(0)
    assert.deepEqual(parseEventMeta(frames[0]!.payload, 2, 2 + metaBytes), {args: [], contentType: 'text/plain', noun: 'x', verb: 'GET'})
    assert.equal(frames[0]!.payload.subarray(2 + metaBytes).toString(), 'hello')
    engine.push(replyFrame(1, {code: 0, contentType: 'text/plain'}, Buffer.from('hi back')), encodeFrame(FrameType.REPLY, FLAG_END, 3, replyFrame(3, {code: 7, contentType: 'a/b'}).subarray(12)))
    const reply = await first
    assert.equal(reply.code, 0)
    assert.equal((await reply.read()).toString(), 'hi back')
    assert.equal((await second).code, 7)
    assert.equal(engine.connection.inFlight, 0)
    const node = await started({role: 'node'})
    void node.connection.request(GET, {timeoutMs: 1000}).catch(() => {})
    await turn()
    assert.equal(node.sent()[0]!.streamId, 2)
  })

  it("runs the handler for the peer's event and answers INLINE; a throwing handler answers 251", async () => {
    const seen: IncomingPipeEvent[] = []
    const engine = await started({
      async handler(event) {
        seen.push(event)
        if (event.noun === 'boom') throw new Error('no luck')
        return {body: `got ${(await event.read()).toString()}`, code: 0, contentType: 'text/plain'}
      },
    })
    engine.push(eventFrame(2, {args: ['a b'], noun: 'echo', verb: 'post'}, Buffer.from('ping'), FLAG_INLINE | FLAG_END), eventFrame(4, {args: [], noun: 'boom', verb: 'GET'}))
    await turn()
    const [ok, failed] = engine.sent().sort((a, b) => a.streamId - b.streamId)
    assert.deepEqual([seen[0]!.verb, seen[0]!.noun, seen[0]!.args, seen[0]!.peer], ['POST', 'echo', ['a b'], 'peer-a'])
    assert.deepEqual([typeOf(ok!), ok!.streamId, ok!.flags], ['REPLY', 2, FLAG_INLINE | FLAG_END])
    const metaBytes = ok!.payload.readUInt16BE(0)
    assert.deepEqual(parseReplyMeta(ok!.payload, 2, 2 + metaBytes), {code: 0, contentType: 'text/plain'})
    assert.equal(ok!.payload.subarray(2 + metaBytes).toString(), 'got ping')
    assert.match(failed!.payload.toString(), /handler failed: no luck/)
    assert.deepEqual(parseReplyMeta(failed!.payload, 2, 2 + failed!.payload.readUInt16BE(0)), {code: 251, contentType: 'text/plain; charset=utf-8'})
    assert.equal(engine.connection.inFlight, 0)
  })

  it('a handler whose reply cannot be sent (not a reply object) ends its event with RESET 500; the connection stays', async () => {
    const engine = await started({handler: () => null as unknown as ReplySpec})
    engine.push(eventFrame(2, {args: [], noun: 'x', verb: 'GET'}))
    await turn()
    const [reset] = engine.sent()
    assert.deepEqual([typeOf(reset!), reset!.streamId, (json(reset!) as {code: number}).code], ['RESET', 2, 500])
    assert.match((json(reset!) as {reason: string}).reason, /the reply could not be sent/)
    assert.equal(engine.connection.closed, false)
    assert.equal(engine.connection.inFlight, 0)
  })

  it('a reply body in DATA frames reaches the caller whole, with WINDOW credit granted as it is read', async () => {
    const engine = await started()
    const pending = engine.connection.request(GET, {timeoutMs: 1000})
    engine.push(replyFrame(1, {code: 0, contentType: 'application/octet-stream'}))
    const reply = await pending
    const whole = reply.read()
    engine.push(dataFrame(1, 'abc'), dataFrame(1, 'defg'), dataFrame(1, '', true))
    assert.equal((await whole).toString(), 'abcdefg')
    await turn()
    const windows = engine.sent().filter((frame) => frame.type === FrameType.WINDOW)
    assert.deepEqual(windows.map((frame) => [frame.streamId, frame.payload.readUInt32BE(0)]), [[1, 3], [1, 4]])
    assert.equal(engine.connection.inFlight, 0)
  })
})

describe('pipe stream engine: flow control', () => {
  it('sends no more body than its credit, and goes on as WINDOW frames arrive', async () => {
    const engine = await started({windowBytes: 1000})
    void engine.connection.request({...GET, body: Buffer.alloc(2500, 1)}, {timeoutMs: 60_000}).catch(() => {})
    await turn()
    assert.deepEqual(shape(engine.sent()), [['EVENT', 1, 0, 11], ['DATA', 1, 0, 1000]])
    await turn()
    assert.deepEqual(engine.sent(), [], 'credit exhausted: the pump waits')
    engine.push(windowFrame(1, 1000))
    await turn()
    assert.deepEqual(shape(engine.sent()), [['DATA', 1, 0, 1000]])
    engine.push(windowFrame(1, 600))
    await turn()
    assert.deepEqual(shape(engine.sent()), [['DATA', 1, 0, 500], ['DATA', 1, FLAG_END, 0]])
  })

  it('a reply body larger than the window waits for credit too, and the incoming event ends with it', async () => {
    const engine = await started({handler: () => ({body: Buffer.alloc(30_000, 2), code: 0, contentType: 'x'}), windowBytes: 20_000})
    engine.push(eventFrame(2, GET))
    await turn()
    assert.deepEqual(shape(engine.sent()), [['REPLY', 2, 0, 7], ['DATA', 2, 0, 20_000]])
    assert.equal(engine.connection.inFlight, 1)
    engine.push(windowFrame(2, 20_000))
    await turn()
    assert.deepEqual(shape(engine.sent()), [['DATA', 2, 0, 10_000], ['DATA', 2, FLAG_END, 0]])
    assert.equal(engine.connection.inFlight, 0)
  })

  it('grants credit for an event body as the handler reads it, so the peer may send past one window', async () => {
    let length = 0
    const engine = await started({
      async handler(event) {
        length = (await event.read()).length
        return {code: 0, contentType: 'x'}
      },
      windowBytes: 100,
    })
    engine.push(eventFrame(2, GET, Buffer.alloc(0), 0))
    await turn()
    engine.push(dataFrame(2, Buffer.alloc(100)), dataFrame(2, Buffer.alloc(100)), dataFrame(2, Buffer.alloc(60), true))
    await turn()
    const frames = engine.sent()
    assert.deepEqual(frames.map((frame) => [typeOf(frame), frame.streamId, frame.type === FrameType.WINDOW ? frame.payload.readUInt32BE(0) : 0]), [['WINDOW', 2, 100], ['WINDOW', 2, 100], ['WINDOW', 2, 60], ['REPLY', 2, 0]])
    assert.equal(length, 260)
    assert.equal(engine.connection.closed, false)
  })

  it('stops sending its event body once the reply has ended', async () => {
    const engine = await started({windowBytes: 1000})
    const pending = engine.connection.request({...GET, body: Buffer.alloc(3000)}, {timeoutMs: 60_000})
    await turn()
    engine.sent()
    engine.push(replyFrame(1, {code: 0, contentType: 'x'}, Buffer.from('early answer')))
    assert.equal((await (await pending).read()).toString(), 'early answer')
    engine.push(windowFrame(1, 5000))
    await turn()
    assert.deepEqual(engine.sent(), [], 'the stream is over: a late WINDOW is dropped and nothing more is sent')
  })

  it('stops reading while unread bodies pass maxBufferedBytes, is not dropped as silent meanwhile, and resumes when they go', async () => {
    const engine = await started({handler: never, heartbeatMs: 1000, maxBufferedBytes: 1000, windowBytes: 4096})
    engine.push(eventFrame(2, GET, Buffer.alloc(0), 0), dataFrame(2, Buffer.alloc(1500)))
    assert.equal(engine.transport.paused, true)
    engine.clock.advance(10_000)
    assert.equal(engine.connection.closed, false, 'paused for our own readers: the peer is not silent')
    engine.push(encodeJsonFrame(FrameType.RESET, 0, 2, {code: 499, reason: 'gone'}))
    assert.equal(engine.transport.paused, false)
  })

  it('stops reading a peer that does not read its output, resumes on drain, and drops it if it stays silent', async () => {
    const engine = await started({heartbeatMs: 1000})
    engine.transport.writableLength = 2 * 1024 * 1024
    engine.push(encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)))
    assert.equal(engine.transport.paused, true)
    engine.transport.writableLength = 0
    engine.connection.writable()
    assert.equal(engine.transport.paused, false)
    engine.transport.writableLength = 2 * 1024 * 1024
    engine.push(encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)))
    engine.clock.advance(3000)
    assert.equal(engine.closes[0]?.error?.code, 'RW_ERR_TIMEOUT')
  })
})

describe('pipe stream engine: deadlines and resets', () => {
  it('resets an event with no reply within its timeout (504)', async () => {
    const engine = await started()
    const pending = engine.connection.request(GET, {timeoutMs: 1000})
    engine.clock.advance(999)
    assert.equal(engine.connection.inFlight, 1)
    engine.clock.advance(1)
    await assert.rejects(pending, (error: {code: string}) => error.code === 'RW_ERR_TIMEOUT' && status(error) === 504)
    await turn()
    const [, reset] = engine.sent()
    assert.deepEqual([typeOf(reset!), reset!.streamId, json(reset!)], ['RESET', 1, {code: 504, reason: 'no reply within 1000 ms'}])
    assert.equal(engine.connection.inFlight, 0)
    engine.push(replyFrame(1, {code: 0, contentType: 'x'}))
    assert.equal(engine.connection.closed, false, 'a REPLY crossing the RESET is dropped')
  })

  it('counts the timeout from the last event body bytes sent, and not at all once the reply has started', async () => {
    const engine = await started({windowBytes: 100})
    const slow = engine.connection.request({...GET, body: Buffer.alloc(300)}, {timeoutMs: 1000})
    slow.catch(() => {})
    await turn()
    engine.clock.advance(800)
    engine.push(windowFrame(1, 100))
    await turn()
    engine.clock.advance(999)
    assert.equal(engine.connection.inFlight, 1, 'body progress at 800 ms: not late at 1799 ms')
    engine.clock.advance(1)
    await assert.rejects(slow, /no reply within 1000 ms/)
    const answered = engine.connection.request(GET, {timeoutMs: 1000})
    engine.push(replyFrame(3, {code: 0, contentType: 'x'}))
    await answered
    engine.clock.advance(5000)
    await turn()
    assert.equal(engine.sent().filter((frame) => frame.type === FrameType.RESET && frame.streamId === 3).length, 0)
  })

  it("the caller's abort signal resets the event (499), before or after it is sent", async () => {
    const engine = await started()
    const controller = new AbortController()
    const pending = engine.connection.request(GET, {signal: controller.signal, timeoutMs: 60_000})
    controller.abort()
    await assert.rejects(pending, (error) => status(error) === 499)
    await assert.rejects(engine.connection.request(GET, {signal: AbortSignal.abort(), timeoutMs: 60_000}), /the caller went away/)
    await turn()
    assert.deepEqual(engine.sent().filter((frame) => frame.type === FrameType.RESET).map((frame) => frame.streamId), [1, 3])
  })

  it("the peer's RESET aborts the handler's signal and fails its body", async () => {
    let signal: AbortSignal | undefined
    let body: Promise<Buffer> | undefined
    const engine = await started({
      handler(event) {
        signal = event.signal
        body = event.read()
        return never()
      },
    })
    engine.push(eventFrame(2, GET, Buffer.alloc(0), 0))
    await turn()
    engine.push(encodeJsonFrame(FrameType.RESET, 0, 2, {code: 504, reason: 'late'}))
    assert.equal(signal?.aborted, true)
    await assert.rejects(body!, /peer-a reset the event: late/)
    assert.equal(engine.connection.inFlight, 0)
  })

  it('refuses an event whose metadata cannot fit one frame before sending anything (400)', async () => {
    const engine = await started()
    await assert.rejects(engine.connection.request({...GET, noun: 'n'.repeat(70_000)}, {timeoutMs: 1000}), (error) => status(error) === 400)
    await turn()
    assert.deepEqual(engine.sent(), [])
  })
})

describe('pipe stream engine: an event body that came whole', () => {
  const POST = {args: [], noun: 'echo', verb: 'POST'}
  const inline = (streamId: number, body: Buffer): Buffer => eventFrame(streamId, POST, body, FLAG_INLINE | FLAG_END)

  it('is read as its bytes, copied out of the socket chunk; read again it is empty', async () => {
    let first: Buffer | undefined
    let second: Buffer | undefined
    const chunk = Buffer.concat([inline(2, Buffer.from('ping'))])
    const engine = await started({
      async handler(event) {
        first = await event.read()
        second = await event.read()
        return {code: 0, contentType: 'text/plain'}
      },
    })
    engine.connection.push(chunk)
    await turn()
    chunk.fill(0)
    assert.equal(first?.toString(), 'ping', 'a later change to the socket chunk does not reach the body')
    assert.equal(second?.length, 0)
    assert.equal(engine.connection.inFlight, 0)
  })

  it('is a stream, a tap and a size check on demand, as a body in DATA frames is', async () => {
    const streamed: Buffer[] = []
    const tapped: Buffer[] = []
    let tooLarge: unknown
    const engine = await started({
      async handler(event) {
        if (event.noun === 'small') {
          tooLarge = await event.read(3).catch((error: unknown) => error)
          return {code: 0, contentType: 'text/plain'}
        }

        ;(event as unknown as {tapBody(tap: {add(chunk: Buffer): void}): void}).tapBody({add: (chunk) => tapped.push(chunk)})
        for await (const chunk of event.body) streamed.push(chunk as Buffer)
        return {code: 0, contentType: 'text/plain'}
      },
    })
    engine.push(inline(2, Buffer.from('hello there')), eventFrame(4, {...POST, noun: 'small'}, Buffer.from('four'), FLAG_INLINE | FLAG_END))
    await turn()
    await turn()
    assert.equal(Buffer.concat(streamed).toString(), 'hello there')
    assert.equal(Buffer.concat(tapped).toString(), 'hello there')
    assert.match(String(tooLarge), /larger than 3 bytes/)
    // Read as a stream, the body grants its credit back (WINDOW), as one that came in DATA frames does.
    assert.deepEqual(engine.sent().map((frame) => [typeOf(frame), frame.streamId]).sort(), [['REPLY', 2], ['REPLY', 4], ['WINDOW', 2]])
  })

  it('counts against maxBufferedBytes until its event ends, read or not', async () => {
    const engine = await started({handler: never, heartbeatMs: 1000, maxBufferedBytes: 1000, windowBytes: 4096})
    engine.push(inline(2, Buffer.alloc(1500)))
    assert.equal(engine.transport.paused, true)
    engine.push(encodeJsonFrame(FrameType.RESET, 0, 2, {code: 499, reason: 'gone'}))
    assert.equal(engine.transport.paused, false)
    assert.equal(engine.connection.inFlight, 0)
  })

  it('DATA after it (a peer breaking the protocol) goes into the body within its window, as before; beyond it, the connection ends', async () => {
    let body: Buffer | undefined
    let go: () => void = () => {}
    const engine = await started({
      async handler(event) {
        await new Promise<void>((resolve) => (go = resolve))
        body = await event.read()
        return {code: 0, contentType: 'text/plain'}
      },
      windowBytes: 4096,
    })
    engine.push(inline(2, Buffer.from('ab')), dataFrame(2, Buffer.from('cd')))
    assert.equal(engine.connection.closed, false)
    go()
    await turn()
    await turn()
    assert.equal(body?.toString(), 'abcd')
    engine.push(inline(4, Buffer.from('ab')), dataFrame(4, Buffer.alloc(4095)))
    assert.equal(engine.connection.closed, true)
    assert.match(engine.closes[0]!.reason, /beyond the flow-control window/)
  })
})
