// A pipe connection engine with no socket: a transport that records what is written, a fake clock,
// and the frames a peer would send, built as bytes. For test/core/pipe/engine*.test.ts.
import type {RestwireError} from '../../src/core/errors.js'
import {PipeConnection, type PipeConnectionOptions, type PipeTransport} from '../../src/core/pipe/connection.js'
import type {EventHandler} from '../../src/core/pipe/event-types.js'
import {FLAG_END, FLAG_INLINE, type Frame, FrameDecoder, FrameType, type FrameTypeCode, encodeFrame, encodeJsonFrame} from '../../src/core/pipe/frames.js'
import {type EventMeta, PIPE_PROTOCOL_VERSION, type ReplyMeta, encodeEventMeta, encodeReplyMeta} from '../../src/core/pipe/messages.js'
import {FakeClock} from './fake-clock.js'

export class FakeTransport implements PipeTransport {
  readonly written: Buffer[] = []
  writableLength = 0
  writableNeedDrain = false
  destroyed = false
  paused = false
  ended = false

  write(chunk: Buffer): boolean {
    this.written.push(Buffer.from(chunk))
    return !this.writableNeedDrain
  }

  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
  }

  end(): void {
    this.ended = true
  }

  destroy(): void {
    this.destroyed = true
  }
}

/** Frames in written bytes, DATA pieces joined back into whole frames. */
export function decodeFrames(bytes: Buffer[]): Frame[] {
  const frames: Frame[] = []
  let pending: Buffer[] = []
  const decoder = new FrameDecoder({
    onError(error) {
      throw error
    },
    onFrame(frame) {
      pending.push(Buffer.from(frame.payload))
      if (frame.more) return
      frames.push({flags: frame.flags, payload: Buffer.concat(pending), streamId: frame.streamId, type: frame.type})
      pending = []
    },
  })
  for (const chunk of bytes) decoder.push(chunk)
  return frames
}

/**
 * Lets promises settle and the FrameQueue write what they queued (it writes at the end of a turn): a
 * few event-loop turns, since a handler's reply is queued a turn after the event that caused it.
 */
export async function turn(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
}

export interface Engine {
  connection: PipeConnection
  transport: FakeTransport
  clock: FakeClock
  closes: Array<{reason: string; error?: RestwireError}>
  hellos: number
  /** Frames written since the last call. */
  sent(): Frame[]
  /** Bytes from the peer. */
  push(...frames: Buffer[]): void
}

const noHandler: EventHandler = () => ({code: 255, contentType: 'text/plain'})

/** An engine on the hub side (peer: a node that opens even streams) unless role says otherwise; the peer's HELLO is pushed unless hello: false. */
export function startEngine(options: Partial<Omit<PipeConnectionOptions, 'transport' | 'clock'>> & {hello?: boolean} = {}): Engine {
  const transport = new FakeTransport()
  const clock = new FakeClock()
  let read = 0
  const engine: Engine = {
    clock,
    closes: [],
    connection: undefined as unknown as PipeConnection,
    hellos: 0,
    push: (...frames) => engine.connection.push(Buffer.concat(frames)),
    sent() {
      const frames = decodeFrames(transport.written.slice(read))
      read = transport.written.length
      return frames
    },
    transport,
  }
  const {hello = true, ...rest} = options
  engine.connection = new PipeConnection({
    handler: noHandler,
    onClose: (reason, error) => engine.closes.push({error, reason}),
    onHello: () => engine.hellos++,
    peer: 'peer-a',
    role: 'hub',
    ...rest,
    clock,
    transport,
  })
  if (hello) engine.push(helloFrame(rest.role === 'node' ? 'hub' : 'node'))
  return engine
}

export function helloFrame(role: 'hub' | 'node', version = PIPE_PROTOCOL_VERSION): Buffer {
  return encodeJsonFrame(FrameType.HELLO, 0, 0, {heartbeatMs: 5000, role, version})
}

export function eventFrame(streamId: number, meta: EventMeta, body?: Buffer, flags = body === undefined ? FLAG_END : 0): Buffer {
  if (body === undefined || flags !== (FLAG_INLINE | FLAG_END)) return encodeFrame(FrameType.EVENT, flags, streamId, encodeEventMeta(meta))
  return inlineFrame(FrameType.EVENT, streamId, encodeEventMeta(meta), body)
}

export function replyFrame(streamId: number, meta: ReplyMeta, inlineBody?: Buffer): Buffer {
  if (inlineBody === undefined) return encodeFrame(FrameType.REPLY, 0, streamId, encodeReplyMeta(meta))
  return inlineFrame(FrameType.REPLY, streamId, encodeReplyMeta(meta), inlineBody)
}

function inlineFrame(type: FrameTypeCode, streamId: number, meta: Buffer, body: Buffer): Buffer {
  const prefix = Buffer.alloc(2)
  prefix.writeUInt16BE(meta.length, 0)
  return encodeFrame(type, FLAG_INLINE | FLAG_END, streamId, Buffer.concat([prefix, meta, body]))
}

export function dataFrame(streamId: number, body: Buffer | string, end = false): Buffer {
  return encodeFrame(FrameType.DATA, end ? FLAG_END : 0, streamId, Buffer.from(body))
}

export function windowFrame(streamId: number, bytes: number): Buffer {
  const payload = Buffer.alloc(4)
  payload.writeUInt32BE(bytes, 0)
  return encodeFrame(FrameType.WINDOW, 0, streamId, payload)
}

/** A frame header with any bytes in it, and the payload length it claims (no payload follows unless given). */
export function rawHeader(type: number, flags: number, reserved: number, streamId: number, length: number, payload = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(12)
  header[0] = type
  header[1] = flags
  header.writeUInt16BE(reserved, 2)
  header.writeUInt32BE(streamId, 4)
  header.writeUInt32BE(length, 8)
  return Buffer.concat([header, payload])
}

export const typeOf = (frame: Frame): string => Object.entries(FrameType).find(([, code]) => code === frame.type)![0]
export const json = (frame: Frame): unknown => JSON.parse(frame.payload.toString('utf8'))
