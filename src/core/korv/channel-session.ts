// One korv channel on the server side: decodes requests (gzip members or NDJSON lines), runs each one
// concurrently through the handler and writes exactly one response per request.
import type {Duplex} from 'node:stream'
import {type RestwireError} from '../errors.js'
import {GzipMemberDecoder, encodeGzipMember} from '../framing/gzip-member.js'
import {FrameWriter} from '../framing/frame-writer.js'
import {NdjsonDecoder} from '../framing/ndjson.js'
import {LazyAbort, errorResponse, invokeHandler} from '../message/invoke.js'
import {type RequestHandler, type RwRequest, type RwResponse, splitResource} from '../message/request.js'
import {type KorvId, type KorvResponseMessage, parseKorvRequest} from './messages.js'

export type KorvFraming = 'gzip' | 'ndjson'

export interface KorvRequestLog {
  verb: string
  /** Path only: query strings may carry secrets and are not logged. */
  path: string
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
  nextMessageId: () => number
  onRequest: (entry: KorvRequestLog) => void
  onProtocolError: (error: RestwireError, framing: KorvFraming) => void
  /** Called whenever a request completes, so the server can notice when it has drained. */
  onSettled: () => void
  /** Called on every chunk received, for the connection's idle timer. */
  onActivity?: () => void
}

export class ChannelSession {
  private readonly writer: FrameWriter
  private readonly active = new Set<LazyAbort>()
  private readonly decoder: {push(chunk: Buffer): void}
  private closed = false
  /** The client sent EOF (`ssh -W` and `ssh -s` do when their stdin ends): close once answered. */
  private peerEnded = false
  private framingFailed = false

  constructor(private readonly options: ChannelSessionOptions) {
    const {framing, limits, stream} = options
    this.writer = new FrameWriter(stream, options.coalesce)
    const onMessage = (payload: Buffer): void => this.onMessage(payload)
    const onError = (error: RestwireError): void => this.onFramingError(error)
    this.decoder =
      framing === 'gzip'
        ? new GzipMemberDecoder({maxMessageBytes: limits.maxMessageBytes, onError, onMessage})
        : new NdjsonDecoder({maxLineBytes: limits.maxMessageBytes, onError, onLine: onMessage})
    stream.on('data', (chunk: Buffer) => {
      options.onActivity?.()
      this.decoder.push(chunk)
    })
    stream.on('end', () => {
      this.peerEnded = true
      this.endIfDone()
    })
    stream.on('close', () => this.close())
    stream.on('error', () => this.close())
  }

  get inFlight(): number {
    return this.active.size
  }

  private onMessage(payload: Buffer): void {
    const parsed = parseKorvRequest(payload)
    if (!parsed.ok) {
      this.send(parsed.requestId, {body: {error: parsed.error}, status: 400})
      return
    }

    const {gauge} = this.options
    const {id, resource, verb, body} = parsed.request
    if (gauge.count >= gauge.max) {
      this.send(id, {body: {error: `too many requests in flight on this connection (limit ${gauge.max})`}, status: 503})
      return
    }

    void this.run(id, verb, resource, body)
  }

  private async run(id: KorvId, verb: string, resource: string, body: unknown): Promise<void> {
    const {gauge, handler, limits} = this.options
    const started = performance.now()
    const controller = new LazyAbort()
    const {path, query} = splitResource(resource)
    const request: RwRequest = {
      body,
      client: this.options.client,
      params: {},
      path,
      query,
      resource,
      get signal() {
        return controller.signal
      },
      verb,
    }
    this.active.add(controller)
    gauge.count++
    try {
      const response = await invokeHandler(handler, request, controller, {timeoutMs: limits.handlerTimeoutMs, tracebacks: limits.tracebacks})
      if (!this.closed) this.send(id, response)
      this.options.onRequest({
        address: this.options.client.address,
        code: this.closed ? 499 : response.status,
        durationMs: performance.now() - started,
        fingerprint: this.options.client.fingerprint,
        path,
        verb,
      })
    } finally {
      this.active.delete(controller)
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

  private send(requestId: KorvId, response: RwResponse): void {
    const message: KorvResponseMessage = {body: response.body, code: response.status, id: this.options.nextMessageId(), request_id: requestId}
    let json: string
    try {
      json = JSON.stringify(message)
    } catch (error) {
      const failed = errorResponse(new Error(`response body is not JSON-serialisable: ${(error as Error).message}`), this.options.limits)
      json = JSON.stringify({...message, body: failed.body, code: failed.status})
    }

    this.writer.write(this.options.framing === 'gzip' ? encodeGzipMember(json) : Buffer.from(json + '\n'))
  }

  /**
   * The byte stream cannot be framed any more: say why (request_id 0), let requests already running
   * answer, then close this channel only.
   */
  private onFramingError(error: RestwireError): void {
    this.options.onProtocolError(error, this.options.framing)
    const status = error.code === 'RW_ERR_FRAME_TOO_LARGE' ? 413 : 400
    this.send(0, {body: {code: error.code, error: error.message}, status})
    this.framingFailed = true
    this.endIfDone()
  }

  /** Aborts handlers still running; their responses are dropped. */
  close(): void {
    if (this.closed && this.active.size === 0) return
    this.closed = true
    this.writer.close()
    for (const controller of this.active) controller.abort(new Error('channel closed'))
  }
}
