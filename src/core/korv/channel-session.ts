// One korv channel on the server side: decodes requests (gzip members or NDJSON lines), runs each one
// concurrently through the handler and writes exactly one response per request.
import type {Duplex} from 'node:stream'
import {PeerGoneError, RestwireError} from '../errors.js'
import {stringifyJson} from '../json.js'
import {GzipMemberDecoder, encodeGzipMember} from '../framing/gzip-member.js'
import {FrameWriter} from '../framing/frame-writer.js'
import {NdjsonDecoder} from '../framing/ndjson.js'
import {AbortableRequest, errorResponse, invokeHandler} from '../message/invoke.js'
import {type RequestHandler, type RwRequest, type RwResponse, splitResource} from '../message/request.js'
import type {TrafficLog} from '../observe/traffic.js'
import type {BudgetHolder, BudgetRefusal, ConnectionDecodeBudget} from './decode-budget.js'
import {type KorvId, type KorvResponseMessage, parseKorvRequest} from './messages.js'

export type KorvFraming = 'gzip' | 'ndjson'

export interface KorvRequestLog {
  /** `-` when the message could not be read as a request. */
  verb: string
  /** Path only: query strings may carry secrets and are not logged. `-` when unreadable. */
  path: string
  /** The status that went out (a reply the handler meant as 200 but that could not be serialised is 500). */
  code: number
  durationMs: number
  fingerprint?: string
  address?: string
}

export interface KorvLimits {
  maxMessageBytes: number
  handlerTimeoutMs: number
  tracebacks: boolean
}

/** Requests in flight on one SSH connection, shared by its channels. */
export interface InFlightGauge {
  count: number
  readonly max: number
}

export interface ChannelSessionOptions {
  stream: Duplex
  framing: KorvFraming
  coalesce: boolean
  client: RwRequest['client']
  handler: RequestHandler
  limits: KorvLimits
  gauge: InFlightGauge
  /** This connection's share of the partially-decoded-bytes budget. */
  budget: ConnectionDecodeBudget
  nextMessageId: () => number
  /** Where each finished request is logged; without one no log entry is built. */
  onRequest?: (entry: KorvRequestLog) => void
  /** Where each finished request is reported, when the server observes its traffic. */
  traffic?: TrafficLog
  onProtocolError: (error: RestwireError, framing: KorvFraming) => void
  /** Called whenever a request completes, so the server can notice when it has drained. */
  onSettled: () => void
  /** Called on every chunk received, for the connection's idle timer. */
  onActivity?: () => void
}

interface Decoder {
  push(chunk: Buffer): void
  readonly heldBytes: number
}

const STOPPED: Decoder = {heldBytes: 0, push() {}}

/** The NDJSON decoder with the gzip decoder's `heldBytes`, so the budget treats both framings alike. */
function ndjsonDecoder(maxLineBytes: number, onLine: (line: Buffer) => void, onError: (error: RestwireError) => void): Decoder {
  const decoder = new NdjsonDecoder({maxLineBytes, onError, onLine})
  return {
    get heldBytes() {
      return decoder.bufferedBytes
    },
    push: (chunk) => decoder.push(chunk),
  }
}

export class ChannelSession {
  private readonly writer: FrameWriter
  /** Requests whose handler answered with a promise (one that answers synchronously is settled in the same call). */
  private readonly active = new Set<AbortableRequest>()
  private decoder: Decoder
  /** Bytes the decoder held after the last chunk, as charged to the budget; the budget may evict us. */
  private readonly holder = {charged: 0, evict: (): void => this.refuse('server')} satisfies BudgetHolder
  /** Output is above the stream's high-water mark: input is paused, and decoded requests wait here. */
  private paused = false
  private waiting: Buffer[] = []
  private closed = false
  /** The client sent EOF (`ssh -W` and `ssh -s` do when their stdin ends): close once answered. */
  private peerEnded = false
  private framingFailed = false
  /** Bytes of the last frame send() wrote, for the traffic log (send returns the status). */
  private sentBytes = 0
  /** Someone reads each request's duration (a request log or a traffic log): otherwise no clock is read. */
  private readonly timed: boolean

  constructor(private readonly options: ChannelSessionOptions) {
    const {framing, limits, stream} = options
    this.timed = options.onRequest !== undefined || options.traffic !== undefined
    // Backpressure: a peer that does not read its replies stops being read (and its requests stop
    // being started) until the channel drains, so unread replies cannot pile up without bound.
    this.writer = new FrameWriter({write: this.writeOut}, options.coalesce, 'tick')
    const onMessage = (payload: Buffer): void => this.onMessage(payload)
    const onError = (error: RestwireError): void => this.onFramingError(error)
    this.decoder =
      framing === 'gzip'
        ? new GzipMemberDecoder({maxMessageBytes: limits.maxMessageBytes, onError, onMessage})
        : ndjsonDecoder(limits.maxMessageBytes, onMessage, onError)
    stream.on('data', (chunk: Buffer) => {
      if (this.closed || this.framingFailed) return
      options.onActivity?.()
      this.decoder.push(chunk)
      this.chargeBudget()
    })
    stream.on('end', () => {
      this.peerEnded = true
      this.endIfDone()
    })
    stream.on('close', () => this.close())
    stream.on('error', () => this.close())
  }

  private readonly writeOut = (chunk: Buffer): boolean => {
    const stream = this.options.stream
    const ok = stream.write(chunk)
    if (!ok && !this.paused && !this.closed) {
      this.paused = true
      stream.pause()
      stream.once('drain', this.onDrain)
    }

    return ok
  }

  private readonly onDrain = (): void => {
    this.paused = false
    this.pump()
  }

  /** Starts the requests that waited during backpressure, no more than the in-flight cap at a time, then reads again. */
  private pump(): void {
    const {gauge} = this.options
    while (this.waiting.length > 0 && !this.paused && !this.closed && gauge.count < gauge.max) this.start(this.waiting.shift()!)
    if (this.paused || this.closed) return
    if (this.waiting.length > 0) setImmediate(() => this.pump())
    else this.options.stream.resume()
  }

  /** Charges what the decoder now holds to the connection's budget; over it, the channel is refused. */
  private chargeBudget(): void {
    const held = this.decoder.heldBytes
    const refusal = this.options.budget.charge(this.holder, held - this.holder.charged)
    this.holder.charged = held
    if (refusal !== undefined) this.refuse(refusal)
  }

  private refuse(refusal: BudgetRefusal): void {
    if (this.framingFailed) return
    const {budget} = this.options
    const error =
      refusal === 'connection'
        ? new RestwireError('RW_ERR_FRAME_TOO_LARGE', `this connection holds more than ${budget.max} bytes of unfinished messages across its channels`)
        : new RestwireError('RW_ERR_FRAME_TOO_LARGE', 'the server holds too many unfinished messages from all its clients; retry later')
    this.failFraming(error, refusal === 'connection' ? 413 : 503)
  }

  private onMessage(payload: Buffer): void {
    if (this.framingFailed || this.closed) return
    if (this.paused || this.waiting.length > 0) {
      // At most what the chunks already received decode to: the stream is paused, so no more arrive.
      this.waiting.push(payload)
      return
    }

    this.start(payload)
  }

  private start(payload: Buffer): void {
    const parsed = parseKorvRequest(payload)
    if (!parsed.ok) {
      this.reply(parsed.requestId, {body: {error: parsed.error}, status: 400}, '-', '-', performance.now(), payload.length)
      return
    }

    const {gauge} = this.options
    const {id, resource, verb, body} = parsed.request
    if (gauge.count >= gauge.max) {
      const started = performance.now()
      this.reply(id, {body: {error: `too many requests in flight on this connection (limit ${gauge.max})`}, status: 503}, verb, splitResource(resource).path, started, payload.length, resource)
      return
    }

    this.run(id, verb, resource, body, payload.length)
  }

  /** Sends a reply the server makes itself and logs it. */
  private reply(requestId: KorvId, response: RwResponse, verb: string, path: string, started: number, requestBytes: number, resource = path): void {
    const code = this.send(requestId, response)
    const latencyMs = this.log(verb, path, code, started)
    if (this.options.traffic) this.observe(verb, path, resource, code, latencyMs, requestBytes, undefined, response.body)
  }

  /** Logs the request; returns how long it took (the traffic record reuses it), 0 when nothing is told. */
  private log(verb: string, path: string, code: number, started: number): number {
    if (!this.timed) return 0
    const {client, onRequest} = this.options
    const durationMs = performance.now() - started
    onRequest?.({address: client.address, code, durationMs, fingerprint: client.fingerprint, path, verb})
    return durationMs
  }

  /**
   * Reports one request; called only when a log is attached, so a server without one does nothing. With
   * metrics only (no inspector), a tally of the fields: no record is built. Else a record: `path` (no
   * query) stays the record's path; a resource with a query rides in `params.resource`, so that the
   * inspector's replay sends the same resource.
   */
  private observe(verb: string, path: string, resource: string, status: number, latencyMs: number, requestBytes: number, requestBody: unknown, responseBody: unknown, route?: string): void {
    const traffic = this.options.traffic!
    const sent = status === 499 ? 0 : this.sentBytes
    if (!traffic.recording) return traffic.tally('korv', 'in', verb, route, status, undefined, latencyMs, requestBytes, sent)
    const {client} = this.options
    const bodies = traffic.bodies
    traffic.add({
      at: Date.now() - latencyMs,
      direction: 'in',
      latencyMs,
      params: resource === path ? undefined : {resource},
      path,
      peer: client.fingerprint ?? client.address,
      protocol: 'korv',
      request: {bytes: requestBytes, value: bodies ? requestBody : undefined},
      response: {bytes: sent, value: bodies ? responseBody : undefined},
      route,
      status,
      verb,
    })
  }

  /**
   * Runs one request; a handler that answers synchronously is settled in the same call (no promise, no
   * microtask, no entry in `active`: nothing can close the channel while it runs).
   */
  private run(id: KorvId, verb: string, resource: string, body: unknown, requestBytes: number): void {
    const {gauge, handler, limits} = this.options
    const started = this.timed ? performance.now() : 0
    const {path, query} = splitResource(resource)
    const request = new AbortableRequest(verb, resource, path, query, body, this.options.client)
    gauge.count++
    const result = invokeHandler(handler, request, request, {timeoutMs: limits.handlerTimeoutMs, tracebacks: limits.tracebacks})
    if (result instanceof Promise) {
      this.active.add(request)
      void result.then((response) => this.settle(id, request, started, response, requestBytes))
    } else this.settle(id, request, started, result, requestBytes)
  }

  private settle(id: KorvId, request: AbortableRequest, started: number, response: RwResponse, requestBytes: number): void {
    const {path, resource, verb} = request
    const {gauge} = this.options
    try {
      const code = this.closed ? 499 : this.send(id, response)
      const latencyMs = this.log(verb, path, code, started)
      if (this.options.traffic) this.observe(verb, path, resource, code, latencyMs, requestBytes, request.body, response.body, request.route)
    } finally {
      this.active.delete(request)
      gauge.count--
      this.options.onSettled()
      this.endIfDone()
    }
  }

  /** Closes the channel once the peer is done sending (EOF or unreadable input) and every answer is out. */
  private endIfDone(): void {
    if ((!this.peerEnded && !this.framingFailed) || this.active.size > 0 || this.closed) return
    this.writer.flush()
    this.closed = true
    this.endStream(this.framingFailed ? 1 : 0)
  }

  /** Ends our side. A session channel (the `korv` subsystem) reports an exit status first: without one `ssh -s` exits 255, as if it had failed. */
  private endStream(exitStatus: number): void {
    const stream = this.options.stream as Duplex & {exit?: (status: number) => void}
    stream.exit?.(exitStatus)
    stream.end(() => stream.destroy())
  }

  /** Writes one response; returns the status that actually went out. */
  private send(requestId: KorvId, response: RwResponse): number {
    const message: KorvResponseMessage = {body: response.body, code: response.status, id: this.options.nextMessageId(), request_id: requestId}
    let json: string
    try {
      json = stringifyJson(message, 'the response body')
    } catch (error) {
      // Too deep, a BigInt, a cycle: this request alone gets a 500.
      const failed = errorResponse(error, this.options.limits)
      message.body = failed.body
      message.code = failed.status
      json = JSON.stringify(message)
    }

    const frame = this.options.framing === 'gzip' ? encodeGzipMember(json) : Buffer.from(json + '\n')
    this.sentBytes = frame.length
    this.writer.write(frame)
    return message.code
  }

  /**
   * The byte stream cannot be framed any more: say why (request_id 0), let requests already running
   * answer, then close this channel only.
   */
  private onFramingError(error: RestwireError): void {
    this.failFraming(error, error.code === 'RW_ERR_FRAME_TOO_LARGE' ? 413 : 400)
  }

  private failFraming(error: RestwireError, status: number): void {
    if (this.framingFailed) return
    this.options.onProtocolError(error, this.options.framing)
    this.framingFailed = true
    this.waiting = []
    // Whatever the decoder held is dropped with it (the budget may have refused it from outside).
    this.decoder = STOPPED
    this.reply(0, {body: {code: error.code, error: error.message}, status}, '-', '-', performance.now(), 0)
    this.releaseBudget()
    this.endIfDone()
  }

  private releaseBudget(): void {
    this.options.budget.charge(this.holder, -this.holder.charged)
    this.holder.charged = 0
  }

  /** Aborts handlers still running; their responses are dropped. */
  close(): void {
    this.releaseBudget()
    this.waiting = []
    if (this.closed && this.active.size === 0) return
    this.closed = true
    this.writer.close()
    for (const controller of this.active) controller.abort(new PeerGoneError('channel closed'))
  }
}
