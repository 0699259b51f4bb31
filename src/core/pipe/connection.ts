// The connection part of a pipe session, hub or node side: frames in from push(bytes), frames out
// through a PipeTransport (write(), and end()/destroy() to finish), HELLO, PING/PONG and the silence
// timeout on a Clock, GOAWAY, and the read throttle; the streams (PipeStreams) get the rest. No socket
// listeners and no timers of its own: session.ts wires a socket to it, tests feed it bytes.
import {RestwireError, errorForCode} from '../errors.js'
import {DEFAULT_WINDOW_BYTES} from './body-stream.js'
import {DEFAULT_HEARTBEAT_MS} from './defaults.js'
import {type Clock, type ClockTimer, systemClock} from '../link/clock.js'
import type {PipeEvent, PipeReply, PipeSessionOptions, SendOptions} from './event-types.js'
import {FrameQueue, type FrameSink} from './frame-queue.js'
import {type Frame, FrameDecoder, FrameType, type FrameTypeCode, frameTypeName} from './frames.js'
import {PIPE_PROTOCOL_VERSION, errorText, parseHello, parseJsonPayload} from './messages.js'
import {DEFAULT_MAX_BUFFERED_BYTES, ReadThrottle, type ReadControl} from './read-throttle.js'
import {DEFAULT_MAX_IN_FLIGHT, PipeStreams, type StreamsHost} from './streams.js'

/** PINGs are not answered while this much output waits: a peer that reads nothing needs no PONG. */
const PONG_SKIP_BYTES = 64 * 1024
/** How late the silence timer may fire before it counts as a stall of this process, not of the peer. */
const STALL_SLACK_MS = 100

/** The byte stream under one connection (a socket in use): writes, read pausing, and how it ends. */
export interface PipeTransport extends FrameSink, ReadControl {
  /** Finish after what is written (GOAWAY sent); the owner bounds how long a peer may take. */
  end(): void
  /** Cut off now. */
  destroy(): void
}

export interface PipeConnectionOptions extends Omit<PipeSessionOptions, 'socket'> {
  transport: PipeTransport
  /** Heartbeats, the silence timeout and reply deadlines run on it (default: the system clock). */
  clock?: Clock
}

export class PipeConnection implements StreamsHost {
  readonly streams: PipeStreams
  private readonly decoder: FrameDecoder
  private readonly out: FrameQueue
  private readonly throttle: ReadThrottle
  private readonly transport: PipeTransport
  private readonly clock: Clock
  private helloSeen = false
  private reason: string | undefined
  private readonly pingTimer: ClockTimer
  private readonly silenceTimer: ClockTimer
  /** When the peer was last heard from (clock ms), and whether this silence already had its stall grace. */
  private heardAt: number
  private stallGraceUsed = false

  constructor(private readonly options: PipeConnectionOptions) {
    const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
    const {transport} = options
    const clock = options.clock ?? systemClock
    this.transport = transport
    this.clock = clock
    this.out = new FrameQueue(transport)
    this.throttle = new ReadThrottle(transport, this.out, options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES)
    // One Frame object for all frames: nothing here keeps a frame past onFrame, only payloads.
    this.decoder = new FrameDecoder({onError: (error) => this.fail(error), onFrame: (frame) => this.onFrame(frame), reuseFrame: true})
    this.streams = new PipeStreams({
      clock,
      handler: options.handler,
      host: this,
      maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      out: this.out,
      peer: options.peer,
      role: options.role,
      throttle: this.throttle,
      windowBytes: options.windowBytes ?? DEFAULT_WINDOW_BYTES,
    })
    const timeoutMs = options.heartbeatTimeoutMs ?? heartbeatMs * 3
    this.heardAt = clock.now()
    this.silenceTimer = clock.setTimeout(() => {
      // Not reading because our own readers are slow says nothing about the peer: wait for them.
      if (this.throttle.waitingForReaders) return void this.silenceTimer.refresh()
      // The timer fired late: this process was stalled, and timers run before the socket's pending
      // bytes are read. Give the peer one more period, once per silence, before calling it dead.
      const late = clock.now() - this.heardAt - timeoutMs
      if (late > Math.max(STALL_SLACK_MS, timeoutMs / 4) && !this.stallGraceUsed) {
        this.stallGraceUsed = true
        return void this.silenceTimer.refresh()
      }

      this.close(`no heartbeat from ${options.peer} for ${timeoutMs} ms`, 'RW_ERR_TIMEOUT')
    }, timeoutMs)
    this.pingTimer = clock.setInterval(() => this.send(FrameType.PING, 0, 0, Buffer.alloc(8)), heartbeatMs)
    this.sendJson(FrameType.HELLO, 0, 0, {heartbeatMs, role: options.role, version: PIPE_PROTOCOL_VERSION})
  }

  get peer(): string {
    return this.options.peer
  }

  get closed(): boolean {
    return this.reason !== undefined
  }

  get closedReason(): string | undefined {
    return this.reason
  }

  get inFlight(): number {
    return this.streams.size
  }

  request(event: PipeEvent, options: SendOptions): Promise<PipeReply> {
    return this.streams.request(event, options)
  }

  /** Bytes from the peer (the socket's 'data'). */
  push(chunk: Buffer): void {
    this.heard()
    try {
      this.decoder.push(chunk)
    } catch (error) {
      // A peer's frame must never reach the process as an uncaught exception: only this connection ends.
      this.fail(new RestwireError('RW_ERR_PROTOCOL', `a frame could not be handled: ${errorText(error)}`, {cause: error}))
      return
    }

    // One check per chunk (not per frame): the replies one chunk can cause are bounded by its size.
    this.throttle.check()
  }

  private heard(): void {
    this.heardAt = this.clock.now()
    this.stallGraceUsed = false
    this.silenceTimer.refresh()
  }

  /** The transport has room again (the socket's 'drain'). */
  writable(): void {
    this.out.writable()
    // The peer reads what we send: it is alive even while we are not reading its frames.
    this.heard()
    this.throttle.drained()
  }

  /** The transport failed or closed under us: everything in flight fails at once. */
  lost(reason: string): void {
    this.teardown(reason)
  }

  /** Says why (GOAWAY) and closes; every event in flight fails at once. Safe to call twice. */
  close(reason: string, code: 'RW_ERR_CLOSED' | 'RW_ERR_TIMEOUT' | 'RW_ERR_PROTOCOL' = 'RW_ERR_CLOSED', cause?: RestwireError): void {
    if (this.reason !== undefined) return
    this.sendJson(FrameType.GOAWAY, 0, 0, {reason})
    this.out.flush()
    // end(), not destroy(): the GOAWAY must still reach the peer.
    this.teardown(reason, code === 'RW_ERR_CLOSED' ? undefined : errorForCode(code, reason, {cause}), false)
    this.transport.end()
  }

  fail(error: RestwireError): void {
    // The cause keeps the decoder's typed error (a FrameCorruptError for bytes that are no frame).
    this.close(`${error.message}`, 'RW_ERR_PROTOCOL', error)
  }

  private teardown(reason: string, error?: RestwireError, destroy = true): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.clock.clearTimer(this.pingTimer)
    this.clock.clearTimer(this.silenceTimer)
    this.streams.closeAll(this.streams.closedError())
    this.out.close()
    if (destroy) this.transport.destroy()
    this.options.onClose?.(reason, error)
  }

  private onFrame(frame: Frame): void {
    if (!this.helloSeen && frame.type !== FrameType.GOAWAY) {
      if (frame.type !== FrameType.HELLO) return this.fail(new RestwireError('RW_ERR_PROTOCOL', `expected HELLO, got ${frameTypeName(frame.type)}`))
      const hello = parseHello(frame.payload)
      if (hello instanceof RestwireError) return this.fail(hello)
      this.helloSeen = true
      this.options.onHello?.()
      return
    }

    switch (frame.type) {
      case FrameType.PING: {
        if (this.transport.writableLength < PONG_SKIP_BYTES) this.send(FrameType.PONG, 0, 0, frame.payload)
        return
      }

      case FrameType.PONG: {
        return
      }

      case FrameType.GOAWAY: {
        const goaway = parseJsonPayload(frame.payload) as {reason?: unknown} | undefined
        this.teardown(`the peer closed the connection: ${typeof goaway?.reason === 'string' ? goaway.reason : 'no reason given'}`)
        return
      }

      case FrameType.EVENT: {
        this.streams.onEvent(frame)
        return
      }

      case FrameType.HELLO: {
        this.fail(new RestwireError('RW_ERR_PROTOCOL', 'a second HELLO'))
        return
      }

      default: {
        this.streams.onStreamFrame(frame)
      }
    }
  }

  private sendJson(type: FrameTypeCode, flags: number, streamId: number, value: unknown): void {
    if (this.reason === undefined) this.out.json(type, flags, streamId, value)
  }

  private send(type: FrameTypeCode, flags: number, streamId: number, payload?: Buffer): void {
    if (this.reason === undefined) this.out.frame(type, flags, streamId, payload)
  }
}
