// One tunnel channel on the node side: decodes the gateway's requests, answers IDENTIFY, runs routes
// through the router (exactly one answer each) and pumps STREAM generators with backpressure.
import type {Duplex} from 'node:stream'
import {PeerGoneError, RestwireError} from '../errors.js'
import {stringifyJson} from '../json.js'
import type {InFlightGauge} from '../korv/channel-session.js'
import {FrameWriter} from '../framing/frame-writer.js'
import {GzipMemberDecoder, encodeGzipMember} from '../framing/gzip-member.js'
import {drained} from '../link/streams.js'
import {AbortableRequest, type LazyAbort, errorResponse, invokeHandler} from '../message/invoke.js'
import type {Query, RwRequest, RwResponse} from '../message/request.js'
import type {Router} from '../message/router.js'
import {jsonBytes} from '../observe/record.js'
import type {TrafficLog} from '../observe/traffic.js'
import {type TunnelId, type TunnelRequestMessage, type TunnelResponseMessage, newMessageId, parseTunnelRequest} from './messages.js'

export interface NodeChannelOptions {
  stream: Duplex
  coalesce: boolean
  nodeId: string
  router: Router
  client: RwRequest['client']
  handlerTimeoutMs: number
  /** Requests and streams running on this SSH connection (all its channels); beyond `max` they get 503. */
  gauge: InFlightGauge
  /** This side's receive limit, and the limit assumed for the gateway (the wire cannot say it). */
  maxMessageBytes: number
  tracebacks: boolean
  /** The gateway sent IDENTIFY: the connection is registered (ends the node's handshake timer). */
  onIdentified?: () => void
  onProtocolError: (error: RestwireError) => void
  /** Each request and STREAM answered, as a traffic record; none built without it. */
  traffic?: TrafficLog
}

/** What went back for one request, gathered by send() for its traffic record. */
interface Outcome {
  started: number
  status: number
  bytes: number
  items: number
  body: unknown
  route?: string
}

/** Items written between checks of the channel's window (and flushes of coalesced frames). */
const STREAM_BATCH_ITEMS = 64
/** Requests started before the channel's write side is checked again (a macrotask later, once they answered). */
const DISPATCH_BATCH = 64
/** Decoded requests waiting to start; over this many bytes a request is answered 503 at once. */
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024

const EMPTY = Buffer.alloc(0)

export class NodeChannel {
  private readonly writer: FrameWriter
  private readonly decoder: GzipMemberDecoder
  private readonly active = new Set<LazyAbort>()
  /** Running streams by request id: cancel() stops the generator. */
  private readonly streams = new Map<string, {cancel: () => void}>()
  private closed = false
  private framingFailed = false
  private draining: Promise<void> | undefined
  /** Requests decoded but not started while the gateway is not reading our answers. */
  private readonly backlog: Buffer[] = []
  private backlogHead = 0
  private backlogBytes = 0
  private dispatchWaiting = false
  /** Requests running, by id, while a traffic log is attached. */
  private readonly outcomes = new Map<TunnelId, Outcome>()

  constructor(private readonly options: NodeChannelOptions) {
    const {stream} = options
    this.writer = new FrameWriter(stream, options.coalesce)
    this.decoder = new GzipMemberDecoder({
      maxMessageBytes: options.maxMessageBytes,
      onError: (error) => this.onFramingError(error),
      onMessage: (payload) => this.enqueue(payload),
    })
    stream.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk)
      // A gateway that does not read our answers: stop reading its requests until it does (the SSH
      // window then closes on its side), so answers cannot pile up here without bound.
      if (stream.writableNeedDrain && !stream.isPaused()) {
        stream.pause()
        void this.drained().then(() => stream.resume())
      }
    })
    stream.on('close', () => this.close())
    stream.on('error', () => this.close())
  }

  /**
   * Requests start in batches, and none while the channel's write side is full: one read can hold
   * thousands of requests, and answering them all before the first answer is written would let a
   * gateway that does not read grow this node by thousands of answers.
   */
  private enqueue(payload: Buffer): void {
    if (this.backlogBytes + payload.length > MAX_BACKLOG_BYTES) {
      const parsed = parseTunnelRequest(payload)
      this.send(parsed.ok ? parsed.request.id : parsed.requestId, 503, {error: 'too many requests waiting on this channel'})
      return
    }

    this.backlog.push(payload)
    this.backlogBytes += payload.length
    this.dispatch()
  }

  private dispatch(): void {
    if (this.dispatchWaiting) return
    const {stream} = this.options
    for (let started = 0; this.backlogHead < this.backlog.length && !this.closed; started++) {
      if (stream.writableNeedDrain || started >= DISPATCH_BATCH) {
        this.dispatchWaiting = true
        const resume = (): void => {
          this.dispatchWaiting = false
          this.dispatch()
        }

        if (stream.writableNeedDrain) void this.drained().then(resume)
        else setImmediate(resume)
        return
      }

      const payload = this.backlog[this.backlogHead]!
      this.backlog[this.backlogHead++] = EMPTY
      this.backlogBytes -= payload.length
      this.onMessage(payload)
    }

    if (this.backlogHead === this.backlog.length) {
      this.backlog.length = 0
      this.backlogHead = 0
    }
  }

  private onMessage(payload: Buffer): void {
    const parsed = parseTunnelRequest(payload)
    if (!parsed.ok) {
      this.send(parsed.requestId, 400, {error: parsed.error})
      return
    }

    const {request} = parsed
    switch (request.request_type) {
      case 'IDENTIFY':
        this.send(request.id, 200, {node_id: this.options.nodeId})
        this.options.onIdentified?.()
        return
      case 'CANCEL': {
        // CANCEL names the stream in `router`, a string; stream ids may be any scalar.
        const running = this.streams.get(String(request.router))
        // The stream's own terminator is the answer when one is running; a CANCEL of nothing gets a 404.
        if (running) running.cancel()
        else this.send(request.id, 404, {error: 'no such running stream', stream: request.router})
        return
      }
      default: {
        const {gauge} = this.options
        if (gauge.count >= gauge.max) {
          this.send(request.id, 503, {error: `too many requests in flight on this connection (limit ${gauge.max})`})
          return
        }

        gauge.count++
        const outcome = this.options.traffic ? this.track(request.id) : undefined
        const done = request.request_type === 'STREAM' ? this.runStream(request) : this.run(request)
        const finished = (): void => {
          gauge.count--
          if (outcome) this.observe(request, outcome)
        }

        // A handler that answered synchronously is done here: no promise, no microtask.
        if (done) void done.finally(finished)
        else finished()
      }
    }
  }

  private track(id: TunnelId): Outcome {
    const outcome: Outcome = {body: undefined, bytes: 0, items: 0, started: performance.now(), status: 0}
    this.outcomes.set(id, outcome)
    return outcome
  }

  private observe(message: TunnelRequestMessage, outcome: Outcome): void {
    this.outcomes.delete(message.id)
    const latencyMs = performance.now() - outcome.started
    const stream = message.request_type === 'STREAM'
    const {client} = this.options
    const traffic = this.options.traffic!
    const status = this.closed && outcome.status === 0 ? 499 : outcome.status
    const requestBytes = jsonBytes(message.data)
    // Metrics only (no inspector): the fields are counted, no record is built.
    if (!traffic.recording) return traffic.tally('tunnel', 'in', message.request_type, outcome.route, status, undefined, latencyMs, requestBytes, outcome.bytes)
    traffic.add({
      at: Date.now() - latencyMs,
      direction: 'in',
      latencyMs,
      path: String(message.router ?? '-'),
      peer: client.fingerprint ?? client.address,
      protocol: 'tunnel',
      request: {bytes: requestBytes, value: message.data},
      response: stream ? {bytes: outcome.bytes, items: outcome.items} : {bytes: outcome.bytes, value: outcome.body},
      route: outcome.route,
      status,
      verb: message.request_type,
    })
  }

  /**
   * The handler's request, which is also its abort (one object per request, as korv's: see
   * AbortableRequest). The query and the resource's `?search` are only built when there are params.
   */
  private rwRequest(message: TunnelRequestMessage): AbortableRequest {
    const query = toQuery(message.params)
    const path = message.router!
    const search = hasKeys(query) ? new URLSearchParams(Object.entries(query).flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((v): [string, string] => [key, v]))).toString() : ''
    return new AbortableRequest(message.request_type, search ? `${path}?${search}` : path, path, query, message.data, this.options.client)
  }

  /** The handler's request, or undefined after answering 400 for a message that makes none. */
  private requestOr400(message: TunnelRequestMessage): AbortableRequest | undefined {
    try {
      return this.rwRequest(message)
    } catch (error) {
      this.send(message.id, 400, {error: (error as Error).message})
      return undefined
    }
  }

  /**
   * Runs one request. A handler that answers synchronously (and an answer that leaves at once) is
   * settled in this call: no promise, no microtask, no entry in `active` (nothing can close the channel
   * while it runs). Otherwise the returned promise settles once the answer has left.
   */
  private run(message: TunnelRequestMessage): Promise<void> | undefined {
    const request = this.requestOr400(message)
    if (!request) {
      this.endIfFailed()
      return undefined
    }

    const {handlerTimeoutMs: timeoutMs, router, tracebacks} = this.options
    const result = invokeHandler(router.handle, request, request, {timeoutMs, tracebacks})
    if (!(result instanceof Promise)) return this.answer(message, request, result)
    this.active.add(request)
    return result.then((response) => this.answer(message, request, response))
  }

  private answer(message: TunnelRequestMessage, request: AbortableRequest, response: RwResponse): Promise<void> | undefined {
    const outcome = this.outcomes.get(message.id)
    if (outcome) outcome.route = request.route
    this.sendResponse(message.id, response)
    // The request keeps its in-flight place until its answer has left: what a gateway that does not
    // read can make this node hold is bounded by maxInFlight answers.
    if (this.options.stream.writableNeedDrain && !this.closed) {
      this.active.add(request)
      return this.drained().then(() => this.settled(request))
    }

    this.settled(request)
    return undefined
  }

  private settled(request: AbortableRequest): void {
    this.active.delete(request)
    this.endIfFailed()
  }

  private async runStream(message: TunnelRequestMessage): Promise<void> {
    const {router} = this.options
    const request = this.requestOr400(message)
    if (!request) {
      this.endIfFailed()
      return
    }

    const controller: LazyAbort = request
    let iterator: AsyncIterator<unknown> | undefined
    let cancelled = false
    let wake = (): void => {}
    const woken = new Promise<void>((resolve) => (wake = resolve))
    const stopIterator = (): void => {
      // return() on a generator suspended at a yield runs its finally blocks now.
      if (iterator) void Promise.resolve(iterator.return?.()).catch(() => {})
    }

    const cancel = (): void => {
      cancelled = true
      wake()
      controller.abort(new Error('stream cancelled'))
      stopIterator()
    }

    // Registered before the first await: a CANCEL decoded from the same read as this STREAM finds it.
    this.streams.set(String(message.id), {cancel})
    this.active.add(controller)
    try {
      const found = router.match('STREAM', request.path)
      if (found.kind === 'not-found') {
        // A single 404 and no terminator: the gateway reports it as an error, never as an empty stream.
        this.send(message.id, 404, {error: 'no such stream', resource: request.path})
        return
      }

      if (found.kind === 'method-not-allowed') {
        this.send(message.id, 405, {allowed: found.allowed, error: `STREAM is not allowed on ${request.path}`})
        return
      }

      request.params = found.params
      const outcome = this.outcomes.get(message.id)
      if (outcome) outcome.route = found.pattern
      try {
        const result: unknown = await found.handler(request)
        iterator = toAsyncIterator(result)
      } catch (error) {
        if (cancelled) this.send(message.id, 200, null)
        else this.sendResponse(message.id, errorResponse(error, this.options))
        return
      }

      if (cancelled) stopIterator()
      await this.pump(message, iterator, woken, () => cancelled)
    } finally {
      if (this.closed && !cancelled) cancel()
      this.streams.delete(String(message.id))
      this.active.delete(controller)
      this.endIfFailed()
    }
  }

  /** Writes a stream's items until it ends, is cancelled or the channel closes; then its terminator (or error). */
  private async pump(message: TunnelRequestMessage, iterator: AsyncIterator<unknown>, woken: Promise<void>, cancelled: () => boolean): Promise<void> {
    const {stream} = this.options
    try {
      let sinceCheck = 0
      for (;;) {
        if (cancelled() || this.closed) break
        // A CANCEL must not wait for the generator's next item: race it.
        const next = await Promise.race([iterator.next(), woken.then(() => undefined)])
        if (!next || next.done || cancelled() || this.closed) break
        // null is the terminator on the wire; an item that is null would end the stream for the caller.
        if (next.value === null || next.value === undefined) throw new Error('a stream item may not be null or undefined (null ends a stream)')
        const frame = this.encode(message.id, 200, next.value)
        this.writer.write(frame)
        const outcome = this.outcomes.get(message.id)
        if (outcome) {
          outcome.items++
          outcome.bytes += frame.length
        }

        if (++sinceCheck >= STREAM_BATCH_ITEMS || stream.writableNeedDrain) {
          sinceCheck = 0
          this.writer.flush()
          if (stream.writableNeedDrain) await Promise.race([this.drained(), woken])
        }
      }

      if (!this.closed) this.send(message.id, 200, null)
    } catch (error) {
      // Ends the stream: one error answer in place of the terminator, and the generator is stopped.
      void Promise.resolve(iterator.return?.()).catch(() => {})
      if (!cancelled() && !this.closed) this.sendResponse(message.id, errorResponse(error, this.options))
      else if (!this.closed) this.send(message.id, 200, null)
    }
  }

  /** Resolves when the channel's window reopens, or when it closes; one wait shared by every writer. */
  private drained(): Promise<void> {
    this.draining ??= drained(this.options.stream).then(() => {
      this.draining = undefined
    })
    return this.draining
  }

  private sendResponse(requestId: TunnelId, response: RwResponse): void {
    this.send(requestId, response.status, response.body)
  }

  /** Sends one answer; one that cannot go (too large, not JSON) is replaced by a 500 saying why. */
  private send(requestId: TunnelId, code: number, body: unknown): void {
    if (this.closed) return
    let frame: Buffer
    try {
      frame = this.encode(requestId, code, body)
    } catch (error) {
      const failed = errorResponse(error, this.options)
      frame = this.encode(requestId, failed.status, failed.body)
      code = failed.status
      body = failed.body
    }

    this.writer.write(frame)
    const outcome = this.outcomes.get(requestId)
    if (outcome) {
      outcome.status = code
      outcome.bytes += frame.length
      if (body !== null) outcome.body = body
    }
  }

  /**
   * One response frame. Throws RW_ERR_JSON for a body JSON cannot carry (100,000 deep, BigInt, cycle)
   * and RW_ERR_FRAME_TOO_LARGE over the message limit, which is assumed to be the gateway's too: a
   * message the gateway cannot read would make it drop the whole connection.
   */
  private encode(requestId: TunnelId, code: number, body: unknown): Buffer {
    const message: TunnelResponseMessage = {id: newMessageId(), request_id: requestId, response: body, ssh_response_code: code}
    const json = stringifyJson(message, 'the response body')
    const bytes = Buffer.byteLength(json)
    const limit = this.options.maxMessageBytes
    if (bytes > limit) throw new RestwireError('RW_ERR_FRAME_TOO_LARGE', `response too large: ${bytes} bytes, over the tunnel's ${limit} byte message limit`)
    return encodeGzipMember(json)
  }

  /** Unreadable input: say why (request_id 0), let running requests answer, then close this channel only. */
  private onFramingError(error: RestwireError): void {
    this.options.onProtocolError(error)
    this.send(0, error.code === 'RW_ERR_FRAME_TOO_LARGE' ? 413 : 400, {code: error.code, error: error.message})
    this.framingFailed = true
    for (const running of this.streams.values()) running.cancel()
    this.endIfFailed()
  }

  private endIfFailed(): void {
    if (!this.framingFailed || this.active.size > 0 || this.closed) return
    this.writer.flush()
    this.closed = true
    const {stream} = this.options
    stream.end(() => stream.destroy())
  }

  /** The channel is gone: stop running streams and abort handlers; their answers are dropped. */
  close(): void {
    if (this.closed && this.active.size === 0) return
    this.closed = true
    this.writer.close()
    this.backlog.length = 0
    this.backlogHead = 0
    this.backlogBytes = 0
    for (const running of this.streams.values()) running.cancel()
    for (const controller of this.active) controller.abort(new PeerGoneError('channel closed'))
  }
}

function hasKeys(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true
  return false
}

/** params → query: strings kept, arrays of scalars kept as lists, anything else as JSON text. */
function toQuery(params: Record<string, unknown> | null): Query {
  const query: Query = {}
  if (params === null) return query
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined) continue
    query[key] = Array.isArray(value) ? value.map(scalarText) : scalarText(value)
  }

  return query
}

const scalarText = (value: unknown): string => (typeof value === 'string' ? value : stringifyJson(value, 'a params value'))

function toAsyncIterator(result: unknown): AsyncIterator<unknown> {
  if (result && typeof result === 'object') {
    if (Symbol.asyncIterator in result) return (result as AsyncIterable<unknown>)[Symbol.asyncIterator]()
    if (Symbol.iterator in result && typeof result !== 'string') {
      const sync = (result as Iterable<unknown>)[Symbol.iterator]()
      return {next: async () => sync.next(), return: async () => sync.return?.() ?? {done: true, value: undefined}}
    }
  }

  throw new Error('a STREAM handler must return an async iterable (e.g. an async generator)')
}
