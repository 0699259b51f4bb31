// One client connection: lines in, requests run concurrently, replies out in completion order. Bad lines
// are answered and forgotten; the connection stays open. Replies of one event-loop turn are joined into
// one string and written once, in setImmediate (one socket write and one UTF-8 encoding per turn, not a
// buffered write per line). The client's EOF ends the connection (as in txhttprelay):
// its in-flight requests are aborted, which cancels the upstream requests.
//
// What one connection may hold is bounded: reading stops while it has MAX_PENDING_REQUESTS (or
// MAX_PENDING_BYTES of request lines) unanswered, or while its unsent replies are above
// WRITE_HIGH_WATER_BYTES (then its waiting requests do not start either); reading resumes when the
// client catches up. A connection with nothing in flight that sends no complete line for the idle
// timeout is closed (a partial line trickled byte by byte does not count as activity).
import type {Socket} from 'node:net'
import {type ErrorCode, RestwireError} from '../errors.js'
import {RelayCall} from './exchange.js'
import {type FairScheduler, SlotQueue} from './fair-scheduler.js'
import {MAX_PENDING_BYTES, MAX_PENDING_REQUESTS, WRITE_HIGH_WATER_BYTES} from './limits.js'
import {RelayLineDecoder} from './line-decoder.js'
import {dispatchedLine, finalLine, idJson, parseRelayLine, rejectionLine, unknownRequestMessage} from './messages.js'
import {type RelayCallResult, RelayInputError, type RelayRoute} from './relay-route.js'
import type {RelayRuntime} from './runtime.js'
import type {ConnectedClient, TrafficLog} from '../observe/traffic.js'

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
  readonly scheduler: FairScheduler
  /** Close a connection with nothing in flight after this long without a complete line; 0: never. */
  readonly idleTimeoutMs: number
  onRequest?: (entry: RelayRequestLog) => void
  /** Each request line as a traffic record (metrics, inspector); none built without it. */
  traffic?: TrafficLog
}

export class RelayConnection {
  private readonly decoder: RelayLineDecoder
  private readonly inFlight = new Set<RelayCall>()
  private readonly slots = new SlotQueue()
  private idleTimer: NodeJS.Timeout | undefined
  /** performance.now() of the last complete line, reply or drain: the idle timer checks it when it fires (no refresh per request). */
  private lastActive = performance.now()
  private pendingBytes = 0
  private reading = true
  private waitingForDrain = false
  /** Reply lines of this turn, written together at its end (flushOut). */
  private out = ''
  private flushScheduled = false
  private closed = false
  /** The server is draining: end once the last reply is written. */
  private ending = false
  private onIdle?: () => void
  /** Epoch ms of the accept, for the inspector's list of clients. */
  readonly since = Date.now()

  constructor(
    private readonly socket: Socket,
    private readonly host: RelayHost,
  ) {
    this.decoder = new RelayLineDecoder({
      maxLineBytes: host.runtime.config.maxLineBytes,
      onLine: (line) => this.handleLine(line),
      // The common line (ASCII) as text: one decoding per chunk, not a subarray and a toString per line.
      onText: (line) => this.handleLine(line),
      onOverlong: (limit) => this.reject(null, 'null', `line over the ${limit} byte limit (max_line_bytes); it was skipped`, 'RW_ERR_FRAME_TOO_LARGE', performance.now()),
    })
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk))
    socket.on('error', () => socket.destroy())
    socket.on('close', () => this.onClose())
    if (host.idleTimeoutMs > 0) {
      this.idleTimer = setTimeout(this.idleTimeout, host.idleTimeoutMs)
      this.idleTimer.unref()
    }
  }

  /** Stops reading, lets in-flight requests answer, then ends; resolves once idle. */
  drain(): Promise<void> {
    this.ending = true
    this.decoder.stop()
    this.updateFlow()
    return new Promise((resolve) => {
      this.onIdle = resolve
      this.endWhenIdle()
    })
  }

  /** Who this client is, for the inspector; `id` names a UNIX socket client by its number (they have no address). */
  describe(id: string): ConnectedClient {
    const {remoteAddress} = this.socket
    return {id: remoteAddress ? this.peer : id, inFlight: this.inFlight.size, since: this.since, ...(remoteAddress ? {address: remoteAddress} : {})}
  }

  /** Aborts in-flight requests and drops the socket. */
  destroy(): void {
    this.socket.destroy()
  }

  /** `line.length` is its size in bytes (a text line has one character per byte: line-decoder.ts). */
  private handleLine(line: Buffer | string): void {
    const received = performance.now()
    this.lastActive = received
    const parsed = parseRelayLine(line)
    let id: string
    try {
      id = idJson(parsed.ok ? parsed.value.id : parsed.id)
    } catch (error) {
      return this.reject(parsed.ok ? parsed.value.request : null, 'null', (error as Error).message, 'RW_ERR_JSON', received)
    }

    if (!parsed.ok) return this.reject(null, id, parsed.error, 'RW_ERR_RELAY_REQUEST', received, parsed.id)
    const {data, params, request} = parsed.value
    const {runtime} = this.host
    const route = runtime.routes.get(request)
    if (!route) return this.reject(request, id, unknownRequestMessage(request, runtime.routes.keys()), 'RW_ERR_RELAY_REQUEST', received, parsed.value.id)
    let prepared
    try {
      prepared = route.prepare(params, data)
    } catch (error) {
      if (error instanceof RelayInputError) return this.reject(request, id, error.message, 'RW_ERR_RELAY_REQUEST', received, parsed.value.id)
      // A body nested too deeply to serialise (RW_ERR_JSON): this request fails, nothing else does.
      if (error instanceof RestwireError) return this.reject(request, id, error.message, error.code, received, parsed.value.id)
      // A bug must cost this line its answer, not every client its relay.
      return this.reject(request, id, `internal error preparing the request: ${(error as Error)?.message}`, 'RW_ERR_INTERNAL', received, parsed.value.id)
    }

    this.write(dispatchedLine(id))
    runtime.retain()
    this.pendingBytes += line.length
    this.run(runtime, route, prepared, id, parsed.value.id, received, line.length, this.host.traffic ? {data, params} : undefined)
    this.updateFlow()
  }

  // `input` (the client's params and data, never the prepared call with its secrets) only for the traffic log.
  // Callbacks, not async/await: a request that finds a free slot costs no promise here.
  private run(runtime: RelayRuntime, route: RelayRoute, prepared: ReturnType<RelayRoute['prepare']>, id: string, rawId: unknown, received: number, size: number, input?: unknown): void {
    const call = new RelayCall()
    this.inFlight.add(call)
    const done = (result: RelayCallResult): void => this.finish(runtime, route, call, result, id, rawId, received, size, input)
    const start = (): void => {
      if (call.cancelled) done({code: 'RW_ERR_CLOSED', ok: false, response: {code: 'RW_ERR_CLOSED', error: 'cancelled: the client closed its connection'}})
      else route.call(prepared, call, done)
    }

    const slot = this.host.scheduler.acquire(this.slots)
    if (slot) void slot.then(start)
    else start()
  }

  private finish(runtime: RelayRuntime, route: RelayRoute, call: RelayCall, result: RelayCallResult, id: string, rawId: unknown, received: number, size: number, input: unknown): void {
    this.host.scheduler.release(this.slots)
    runtime.release()
    this.inFlight.delete(call)
    this.pendingBytes -= size
    const timeMs = performance.now() - received
    let line: string
    try {
      line = finalLine(result.ok, timeMs / 1000, id, result.response, result.httpStatus, result.headers, result.headersJson)
    } catch (error) {
      // An upstream body too deep to write as JSON: an error reply for this request alone.
      const {code, message} = error as RestwireError
      result = {...result, code, ok: false, response: {code, error: message}}
      line = finalLine(false, timeMs / 1000, id, result.response, result.httpStatus, result.headers)
    }

    this.write(line)
    this.lastActive = received + timeMs
    this.host.onRequest?.({code: result.code, httpStatus: result.httpStatus, id: rawId, request: route.template.name, status: result.ok ? 'ok' : 'error', timeMs})
    if (this.host.traffic) this.observe(route.template.name, route.template.url, {bytes: size, value: input}, result, line.length, timeMs)
    if (this.ending) this.endWhenIdle()
    else this.updateFlow()
  }

  private reject(request: string | null, id: string, error: string, code: ErrorCode, received: number, rawId: unknown = null): void {
    this.write(rejectionLine(id, error, code))
    this.host.onRequest?.({code, id: rawId, request, status: 'error', timeMs: performance.now() - received})
    if (this.host.traffic) this.observe(request ?? '-', '-', {bytes: 0}, {code, ok: false, response: {code, error}}, 0, performance.now() - received)
    this.updateFlow()
  }

  private get peer(): string {
    const {remoteAddress, remotePort} = this.socket
    return remoteAddress ? `${remoteAddress}:${remotePort}` : 'unix socket'
  }

  /** One traffic record per request line: direction `in`, the upstream status (0 when none came). */
  private observe(name: string, path: string, request: {bytes: number; value?: unknown}, result: RelayCallResult, replyBytes: number, latencyMs: number): void {
    const known = this.host.runtime.routes.has(name)
    const traffic = this.host.traffic!
    const error = result.ok ? undefined : result.code
    // Metrics only (no inspector): the fields are counted, no record is built.
    if (!traffic.recording) return traffic.tally('relay', 'in', known ? name : '-', known ? name : undefined, result.httpStatus ?? 0, error, latencyMs, request.bytes, replyBytes)
    traffic.add({
      at: Date.now() - latencyMs,
      direction: 'in',
      error,
      latencyMs,
      path,
      peer: this.peer,
      protocol: 'relay',
      request,
      response: {bytes: replyBytes, value: result.response},
      route: known ? name : undefined,
      status: result.httpStatus ?? 0,
      verb: known ? name : '-',
    })
  }

  private write(text: string): void {
    if (this.closed) return
    this.out += text
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flushOut)
    }
  }

  /**
   * Reads from the client only while it holds less than its share and reads its replies; starts its
   * waiting requests only while its unsent replies are under the high-water mark. A few comparisons.
   */
  private updateFlow(): void {
    if (this.closed) return
    // Lines of this turn not yet handed to the socket count too (ASCII but for escapes: length ≈ bytes).
    const backlogged = this.socket.writableLength + this.out.length > WRITE_HIGH_WATER_BYTES
    if (backlogged && !this.waitingForDrain) {
      this.waitingForDrain = true
      this.socket.once('drain', this.drained)
    }

    this.host.scheduler.setBlocked(this.slots, backlogged)
    const read = !this.ending && !backlogged && this.inFlight.size < MAX_PENDING_REQUESTS && this.pendingBytes < MAX_PENDING_BYTES
    if (read === this.reading) return
    this.reading = read
    if (read) {
      this.socket.resume()
      this.decoder.resume()
    } else {
      this.socket.pause()
      this.decoder.pause()
    }
  }

  private readonly drained = (): void => {
    this.waitingForDrain = false
    this.lastActive = performance.now()
    this.updateFlow()
  }

  private readonly flushOut = (): void => {
    this.flushScheduled = false
    const text = this.out
    if (text === '') return
    this.out = ''
    if (!this.closed) this.socket.write(text)
  }

  /** Nothing in flight and no complete line, reply or drain for the idle timeout: close (a request still running keeps it open). */
  private readonly idleTimeout = (): void => {
    const now = performance.now()
    if (this.inFlight.size > 0) this.lastActive = now
    // Node's timers count whole milliseconds of loop time: one may fire a fraction early (then it waits 1 ms more).
    const left = this.lastActive + this.host.idleTimeoutMs - now
    if (left <= 0) {
      this.socket.destroy()
      return
    }

    this.idleTimer = setTimeout(this.idleTimeout, Math.max(1, Math.ceil(left)))
    this.idleTimer.unref()
  }

  private endWhenIdle(): void {
    this.ending = true
    if (this.inFlight.size > 0) return
    if (!this.closed) {
      // Replies still waiting for the end of the turn go out before the end.
      this.flushOut()
      this.socket.end()
    }

    this.onIdle?.()
    this.onIdle = undefined
  }

  private onClose(): void {
    this.closed = true
    clearTimeout(this.idleTimer)
    this.decoder.stop()
    for (const call of this.inFlight) call.cancel('client-gone')
    // Its requests still waiting for a slot take one only to answer "cancelled" at once.
    this.host.scheduler.setBlocked(this.slots, false)
    this.onIdle?.()
    this.onIdle = undefined
  }
}
