// One client connection: lines in, requests run concurrently, replies out in completion order. Bad lines
// are answered and forgotten; the connection stays open. Replies of one event-loop turn share one socket
// write (cork, then uncork in setImmediate). The client's EOF ends the connection (as in txhttprelay):
// its in-flight requests are aborted, which cancels the upstream requests.
import type {Socket} from 'node:net'
import type {ErrorCode} from '../errors.js'
import {RelayLineDecoder} from './line-decoder.js'
import {dispatchedLine, finalLine, parseRelayLine, rejectionLine} from './messages.js'
import {RelayCall} from './exchange.js'
import {type RelayCallResult, RelayInputError, type RelayRoute} from './relay-route.js'
import type {RelayRuntime} from './runtime.js'

/** One log entry per request line: accepted (ok/error after the HTTP exchange) or rejected at once. */
export interface RelayRequestLog {
  request: string | null
  id: unknown
  status: 'ok' | 'error'
  httpStatus?: number
  /** Why it failed (RW_ERR_*), for errors. */
  code?: ErrorCode
  timeMs: number
}

/** What connections share: the current runtime, the global concurrency limit, logging. */
export interface RelayHost {
  readonly runtime: RelayRuntime
  readonly limiter: ConcurrencyLimiter
  onRequest?: (entry: RelayRequestLog) => void
}

/** Bytes of unsent replies above which we stop reading the client's requests until it reads ours. */
const WRITE_HIGH_WATER_BYTES = 1024 * 1024

export class RelayConnection {
  private readonly decoder: RelayLineDecoder
  private readonly inFlight = new Set<RelayCall>()
  private corked = false
  private closed = false
  /** The server is draining: end once the last reply is written. */
  private ending = false
  private onIdle?: () => void

  constructor(
    private readonly socket: Socket,
    private readonly host: RelayHost,
  ) {
    this.decoder = new RelayLineDecoder({
      maxLineBytes: host.runtime.config.maxLineBytes,
      onLine: (line) => this.handleLine(line),
      onOverlong: (limit) => this.reject(null, null, `line over the ${limit} byte limit (max_line_bytes); it was skipped`, 'RW_ERR_FRAME_TOO_LARGE', performance.now()),
    })
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk))
    socket.on('error', () => socket.destroy())
    socket.on('close', () => this.onClose())
  }

  /** Stops reading, lets in-flight requests answer, then ends; resolves once idle. */
  drain(): Promise<void> {
    this.decoder.stop()
    this.socket.pause()
    return new Promise((resolve) => {
      this.onIdle = resolve
      this.endWhenIdle()
    })
  }

  /** Aborts in-flight requests and drops the socket. */
  destroy(): void {
    this.socket.destroy()
  }

  private handleLine(line: Buffer): void {
    const received = performance.now()
    const parsed = parseRelayLine(line)
    if (!parsed.ok) return this.reject(null, parsed.id, parsed.error, 'RW_ERR_RELAY_REQUEST', received)
    const {data, id, params, request} = parsed.value
    const {runtime} = this.host
    const route = runtime.routes.get(request)
    if (!route) return this.reject(request, id, `unknown request "${request}"`, 'RW_ERR_RELAY_REQUEST', received)
    let prepared
    try {
      prepared = route.prepare(params, data)
    } catch (error) {
      if (!(error instanceof RelayInputError)) throw error
      return this.reject(request, id, error.message, 'RW_ERR_RELAY_REQUEST', received)
    }

    this.write(dispatchedLine(id))
    runtime.retain()
    void this.run(runtime, route, prepared, id, received)
  }

  private async run(runtime: RelayRuntime, route: RelayRoute, prepared: ReturnType<RelayRoute['prepare']>, id: unknown, received: number): Promise<void> {
    const call = new RelayCall()
    this.inFlight.add(call)
    const {limiter} = this.host
    const slot = limiter.acquire()
    if (slot) await slot
    let result: RelayCallResult
    if (call.cancelled) result = {code: 'RW_ERR_CLOSED', ok: false, response: {code: 'RW_ERR_CLOSED', error: 'cancelled: the client closed its connection'}}
    else result = await route.call(prepared, call)
    limiter.release()
    runtime.release()
    this.inFlight.delete(call)
    const timeMs = performance.now() - received
    this.write(finalLine(result.ok, timeMs / 1000, id, result.response, result.httpStatus, result.headers))
    this.host.onRequest?.({code: result.code, httpStatus: result.httpStatus, id, request: route.template.name, status: result.ok ? 'ok' : 'error', timeMs})
    if (this.ending) this.endWhenIdle()
  }

  private reject(request: string | null, id: unknown, error: string, code: ErrorCode, received: number): void {
    this.write(rejectionLine(id, error, code))
    this.host.onRequest?.({code, id, request, status: 'error', timeMs: performance.now() - received})
  }

  private write(text: string): void {
    if (this.closed) return
    const {socket} = this
    if (!this.corked) {
      this.corked = true
      socket.cork()
      setImmediate(this.uncork)
    }

    socket.write(text)
    if (socket.writableLength > WRITE_HIGH_WATER_BYTES && !socket.isPaused()) {
      // A client that does not read its replies gets no more requests served until it does.
      socket.pause()
      socket.once('drain', () => {
        if (!this.ending) socket.resume()
      })
    }
  }

  private readonly uncork = (): void => {
    this.corked = false
    this.socket.uncork()
  }

  private endWhenIdle(): void {
    this.ending = true
    if (this.inFlight.size > 0) return
    if (!this.closed) {
      this.socket.end()
      // Replies still corked go out with the end.
      if (this.corked) this.uncork()
    }

    this.onIdle?.()
    this.onIdle = undefined
  }

  private onClose(): void {
    this.closed = true
    this.decoder.stop()
    for (const call of this.inFlight) call.cancel('client-gone')
    this.onIdle?.()
    this.onIdle = undefined
  }
}

/** The global limit on upstream requests in flight; waiting requests get a slot in arrival order. */
export class ConcurrencyLimiter {
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor(private limit: number) {}

  /** A reload may change the limit; a higher one lets waiting requests start now. */
  setLimit(limit: number): void {
    this.limit = limit
    while (this.active < this.limit && this.waiting.length > 0) {
      this.active++
      this.waiting.shift()!()
    }
  }

  /** undefined when a slot is free now (no promise on the fast path). */
  acquire(): Promise<void> | undefined {
    if (this.active < this.limit) {
      this.active++
      return undefined
    }

    return new Promise((resolve) => this.waiting.push(resolve))
  }

  release(): void {
    // After a reload lowered the limit, finished slots are not handed on until under it.
    if (this.active > this.limit || this.waiting.length === 0) {
      this.active--
      return
    }

    this.waiting.shift()!()
  }
}
