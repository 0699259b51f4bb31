// One connected node as the gateway sees it: the direct-tcpip channel, requests in flight matched to
// their answers by request_id, and STREAM results delivered as async iterables.
import type ssh2 from 'ssh2'
import {PeerGoneError, RestwireError, StatusError, TimeoutError, errorForCode} from '../errors.js'
import {FrameWriter} from '../framing/frame-writer.js'
import {GzipMemberDecoder, encodeGzipMember} from '../framing/gzip-member.js'
import {stringifyJson} from '../json.js'
import {type TunnelRequestMessage, type TunnelRequestType, type TunnelResponseMessage, readTunnelResponse, tunnelRequest} from './messages.js'

/** A STREAM's items as they arrive. Breaking out of `for await` cancels it too. */
export interface TunnelStream extends AsyncIterable<unknown> {
  /** Sends CANCEL; resolves once the node's terminator arrived (or the session or timeout ended it). */
  cancel(): Promise<void>
}

interface Pending {
  /** Returns true when this was the request's last message. */
  onMessage(message: TunnelResponseMessage, bytes: number): boolean
  fail(error: RestwireError): void
  stream: boolean
}

/**
 * Stream items buffered for slow consumers, over all streams of the session, before the channel is
 * paused (the SSH window then closes and the node's writes wait). Bytes are the decoded JSON sizes.
 */
const PAUSE_AT_ITEMS = 4096
const RESUME_AT_ITEMS = 1024
const PAUSE_AT_BYTES = 32 * 1024 * 1024
const RESUME_AT_BYTES = 8 * 1024 * 1024

/**
 * For streams read by remote clients (the HTTP API): while the channel is paused for want of readers,
 * a stream whose reader has taken nothing for this long is cancelled with an error, so that one
 * stalled client holds up the node's other callers for about this long at most.
 */
export const DEFAULT_STREAM_STALL_MS = 1000

/**
 * Request bytes waiting for the node's SSH window: a node that stops reading makes further requests
 * fail at once (503) instead of piling up here until their timeouts.
 */
export const MAX_UNSENT_BYTES = 16 * 1024 * 1024

export interface GatewaySessionOptions {
  channel: ssh2.ClientChannel
  coalesce: boolean
  /** This side's receive limit, and the limit assumed for the node (the wire cannot say it). */
  maxMessageBytes: number
  /** Requests and streams waiting on this node; beyond it they fail at once with 503. */
  maxInFlight: number
  /** Called once when the channel is gone, for whatever reason. */
  onClose: (error: RestwireError) => void
}

export class GatewaySession {
  private readonly writer: FrameWriter
  private readonly pending = new Map<string | number, Pending>()
  private closedError: RestwireError | undefined
  /** Stream items (and their bytes) received but not yet consumed, over all streams of this session. */
  private buffered = 0
  private bufferedBytes = 0
  /** Streams that are cancelled when their reader stalls while the channel is paused. */
  private readonly stallable = new Set<{holds(): boolean; stalledSince: number; stallMs: number; evict(): void}>()
  private stallTimer: NodeJS.Timeout | undefined

  constructor(private readonly options: GatewaySessionOptions) {
    const {channel} = options
    this.writer = new FrameWriter(channel, options.coalesce)
    const decoder = new GzipMemberDecoder({
      maxMessageBytes: options.maxMessageBytes,
      onError: (error) => {
        this.close(errorForCode(error.code, `the node sent an unreadable stream: ${error.message}`, {cause: error}))
        channel.destroy()
      },
      onMessage: (payload) => this.onPayload(payload),
    })
    channel.on('data', (chunk: Buffer) => decoder.push(chunk))
    channel.on('close', () => this.close(new PeerGoneError('the node closed the tunnel channel')))
    channel.on('error', (error: Error) => this.close(new PeerGoneError(`the tunnel channel failed: ${error.message}`, {cause: error})))
  }

  get inFlight(): number {
    return this.pending.size
  }

  get closed(): boolean {
    return this.closedError !== undefined
  }

  /** One request, one answer; rejects with RW_ERR_TIMEOUT after timeoutMs and RW_ERR_CLOSED when the node goes. */
  request(type: TunnelRequestType, router: string | null, data: unknown, params: Record<string, unknown> | null, timeoutMs: number): Promise<TunnelResponseMessage> {
    if (this.closedError) return Promise.reject(this.closedError)
    const message = tunnelRequest(type, router, data, params)
    let frame: Buffer
    try {
      this.checkCapacity(type, router)
      frame = this.encode(message)
    } catch (error) {
      return Promise.reject(error)
    }

    return new Promise<TunnelResponseMessage>((resolve, reject) => {
      const pending = new PendingRequest(this.pending, message.id, type, router, timeoutMs, resolve, reject)
      this.pending.set(message.id, pending)
      this.writer.write(frame)
    })
  }

  /**
   * Starts a STREAM; the first answer must come within timeoutMs, later items may take any time. A
   * consumer that stops reading pauses the channel (flow control back to the node, and so for every
   * caller of that node). With `stallMs`, a consumer that then takes nothing for that long loses the
   * stream (cancelled with RW_ERR_PROTOCOL, status 502) and the channel flows again.
   */
  stream(router: string, params: Record<string, unknown> | null, timeoutMs: number, stallMs?: number): TunnelStream {
    const message = tunnelRequest('STREAM', router, null, params)
    const items: Array<{bytes: number; value: unknown}> = []
    let itemBytes = 0
    const account = (count: number, bytes: number): void => {
      itemBytes += bytes
      this.onBuffered(count, bytes)
    }

    const tracker = {
      evict: (): void => {
        drop()
        finish(new RestwireError('RW_ERR_PROTOCOL', `STREAM ${router} was cancelled: its reader took nothing for ${stallMs} ms while the node's channel was full`, {status: 502}))
        this.sendCancel(message.id)
      },
      holds: (): boolean => items.length > 0,
      stallMs: stallMs ?? 0,
      stalledSince: Date.now(),
    }
    let finished = false
    let failure: RestwireError | undefined
    const waiters: Array<() => void> = []
    let cancelled: Promise<void> | undefined
    const notify = (): void => {
      for (const waiter of waiters.splice(0)) waiter()
    }

    const finish = (error?: RestwireError): void => {
      if (finished) return
      finished = true
      failure = error
      clearTimeout(timer)
      this.pending.delete(message.id)
      this.stallable.delete(tracker)
      notify()
    }

    const timer = setTimeout(() => {
      finish(new TimeoutError(`no answer to STREAM ${router} within ${timeoutMs} ms`, {status: 504, timeoutMs}))
      this.sendCancel(message.id)
    }, timeoutMs)
    let answered = false
    let frame: Buffer | undefined
    let refused: RestwireError | undefined
    try {
      this.checkCapacity('STREAM', router)
      frame = this.encode(message)
    } catch (error) {
      refused = error as RestwireError
    }

    const drop = (): void => {
      account(-items.length, -itemBytes)
      items.length = 0
    }

    this.pending.set(message.id, {
      fail: (error) => {
        finish(error)
        drop()
      },
      onMessage: (response, bytes) => {
        if (!answered) {
          answered = true
          clearTimeout(timer)
        }

        const code = response.ssh_response_code
        if (code !== 200) finish(remoteError(`STREAM ${router}`, code, response.response))
        else if (response.response === null) finish()
        else if (!cancelled) {
          if (items.length === 0) tracker.stalledSince = Date.now()
          items.push({bytes, value: response.response})
          account(1, bytes)
        }

        notify()
        return finished
      },
      stream: true,
    })
    if (stallMs !== undefined) this.stallable.add(tracker)
    if (this.closedError) finish(this.closedError)
    else if (refused) finish(refused)
    else this.writer.write(frame!)

    const cancel = (): Promise<void> => {
      // Items not yet consumed are dropped, so that an abandoned stream never holds the channel paused.
      drop()
      if (finished) return Promise.resolve()
      cancelled ??= new Promise<void>((resolve) => {
        this.sendCancel(message.id)
        const bound = setTimeout(() => finish(), timeoutMs)
        const poll = (): void => {
          if (finished) {
            clearTimeout(bound)
            resolve()
          } else waiters.push(poll)
        }

        poll()
      })
      return cancelled
    }

    const iterator: AsyncIterator<unknown> = {
      next: async () => {
        for (;;) {
          const item = items.shift()
          if (item) {
            tracker.stalledSince = Date.now()
            account(-1, -item.bytes)
            return {done: false, value: item.value}
          }

          if (failure) throw failure
          if (finished) return {done: true, value: undefined}
          await new Promise<void>((resolve) => waiters.push(resolve))
        }
      },
      return: async () => {
        await cancel()
        return {done: true, value: undefined}
      },
    }
    return {[Symbol.asyncIterator]: () => iterator, cancel}
  }

  /** Fails everything in flight with `error` and closes the channel. Safe to call twice. */
  close(error: RestwireError): void {
    if (this.closedError) return
    this.closedError = error
    clearTimeout(this.stallTimer)
    this.writer.close()
    for (const [id, entry] of [...this.pending]) {
      this.pending.delete(id)
      entry.fail(error)
    }

    this.options.channel.destroy()
    this.options.onClose(error)
  }

  /** Backpressure toward the node: a paused channel stops the SSH window adjustments, so the node's writes wait. */
  private onBuffered(items: number, bytes: number): void {
    this.buffered += items
    this.bufferedBytes += bytes
    const {channel} = this.options
    if ((this.buffered >= PAUSE_AT_ITEMS || this.bufferedBytes >= PAUSE_AT_BYTES) && !channel.isPaused()) {
      channel.pause()
      this.checkStalls()
    } else if (this.buffered <= RESUME_AT_ITEMS && this.bufferedBytes <= RESUME_AT_BYTES && channel.isPaused()) {
      channel.resume()
      clearTimeout(this.stallTimer)
      this.stallTimer = undefined
    }
  }

  /** While paused: cancels the streams whose readers stalled, checking again until the channel flows. */
  private checkStalls(): void {
    if (this.stallTimer || this.stallable.size === 0) return
    let nextCheck = Number.POSITIVE_INFINITY
    const now = Date.now()
    for (const tracker of [...this.stallable]) {
      if (!tracker.holds()) continue
      const due = tracker.stalledSince + tracker.stallMs
      if (due <= now) tracker.evict()
      else nextCheck = Math.min(nextCheck, due - now)
    }

    if (this.options.channel.isPaused() && nextCheck !== Number.POSITIVE_INFINITY && !this.closedError) {
      this.stallTimer = setTimeout(() => {
        this.stallTimer = undefined
        this.checkStalls()
      }, nextCheck)
    }
  }

  /** Beyond maxInFlight the request fails here with the 503 the node itself would answer. */
  private checkCapacity(type: TunnelRequestType, router: string | null): void {
    const {maxInFlight} = this.options
    if (this.pending.size < maxInFlight) return
    const body = {error: `too many requests in flight to this node (limit ${maxInFlight})`}
    throw remoteError(`${type} ${router ?? ''}`, 503, body)
  }

  /**
   * The frame for a request, refused here (that request alone) when the node could not take it: over
   * the message limit (413; the wire cannot say the node's limit, so this side's own is assumed) or
   * not serialisable as JSON (400).
   */
  private encode(message: TunnelRequestMessage): Buffer {
    let json: string
    try {
      json = stringifyJson(message, `the ${message.request_type} request's data`)
    } catch (error) {
      // stringifyJson raises RW_ERR_JSON only.
      throw new RestwireError('RW_ERR_JSON', (error as Error).message, {cause: error, status: 400})
    }

    const bytes = Buffer.byteLength(json)
    if (bytes > this.options.maxMessageBytes) {
      throw new RestwireError('RW_ERR_FRAME_TOO_LARGE', `the ${message.request_type} request is ${bytes} bytes, over the ${this.options.maxMessageBytes} byte message limit`, {status: 413})
    }

    const frame = encodeGzipMember(json)
    const unsent = this.options.channel.writableLength
    // Nothing waiting: even a frame as large as the message limit goes.
    if (message.request_type !== 'CANCEL' && unsent > 0 && unsent + frame.length > MAX_UNSENT_BYTES) {
      throw remoteError(`${message.request_type} ${message.router ?? ''}`, 503, {error: `the node is not reading its requests: ${unsent} bytes wait to be sent to it`})
    }

    return frame
  }

  private sendCancel(streamId: string | number): void {
    if (!this.closedError) this.writer.write(this.encode(tunnelRequest('CANCEL', String(streamId))))
  }

  private onPayload(payload: Buffer): void {
    const read = readTunnelResponse(payload)
    // Answers to nothing we sent (request_id 0, a CANCEL's 404 after the stream ended) are ignored.
    const requestId = read.ok ? read.response.request_id : read.requestId
    const entry = requestId === undefined ? undefined : this.pending.get(requestId)
    if (!entry || requestId === undefined) return
    if (!read.ok) {
      // A broken answer fails its request at once (502) instead of leaving it to time out; the session stays.
      this.pending.delete(requestId)
      entry.fail(new RestwireError('RW_ERR_PROTOCOL', `the node sent an invalid response: ${read.error}`, {status: 502}))
      if (entry.stream) this.sendCancel(requestId)
      return
    }

    if (entry.onMessage(read.response, payload.length)) this.pending.delete(requestId)
  }
}

/**
 * A request waiting for its one answer: one object and one timer per request (the timer's callback
 * is a shared function given this object, not a closure).
 */
class PendingRequest implements Pending {
  readonly stream = false
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly map: Map<string | number, Pending>,
    private readonly id: string | number,
    // Not the message: its data (up to the body limit) is not kept while the answer is awaited.
    private readonly type: TunnelRequestType,
    private readonly router: string | null,
    private readonly timeoutMs: number,
    private readonly resolve: (response: TunnelResponseMessage) => void,
    private readonly reject: (error: RestwireError) => void,
  ) {
    this.timer = setTimeout(timedOut, timeoutMs, this)
  }

  onMessage(response: TunnelResponseMessage): boolean {
    clearTimeout(this.timer)
    this.resolve(response)
    return true
  }

  fail(error: RestwireError): void {
    clearTimeout(this.timer)
    this.reject(error)
  }

  expire(): void {
    const {router, timeoutMs, type} = this
    this.map.delete(this.id)
    this.reject(new TimeoutError(`no answer to ${type} ${router ?? ''} within ${timeoutMs} ms`, {status: 504, timeoutMs}))
  }
}

function timedOut(request: PendingRequest): void {
  request.expire()
}

/** A non-200 answer as an error: a StatusError (RW_ERR_REMOTE_4XX or _5XX) carrying the status and body. */
export function remoteError(what: string, status: number, body: unknown): StatusError {
  const error = (body as {error?: unknown; message?: unknown} | null)?.error ?? (body as {message?: unknown} | null)?.message
  const text = typeof error === 'string' ? error : previewJson(body)
  return new StatusError(status, `${what} failed with ${status}: ${text}`, {body})
}

/** A peer's value as JSON text for a message, or a note saying why it cannot be shown. */
export function previewJson(value: unknown): string {
  try {
    return stringifyJson(value).slice(0, 1000)
  } catch {
    return '(a value that cannot be written as JSON)'
  }
}
