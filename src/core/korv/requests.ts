// The requests in flight on one korv channel, for both clients: KorvClient (its own SSH connection) and
// PersistedKorvClient (a master's socket, no ssh2). Ids, the in-flight bound (later callers wait their
// turn), timeouts, aborts, and matching each answer to its request.
import {RestwireError, TimeoutError} from '../errors.js'
import {encodeGzipMember} from '../framing/gzip-member.js'
import {stringifyJson} from '../json.js'
import {DEFAULT_REQUEST_TIMEOUT_MS} from './defaults.js'
import type {KorvResponseMessage} from './messages.js'

export interface KorvResponse {
  status: number
  body: unknown
  requestId: number
  durationMs: number
}

export interface KorvRequestOptions {
  timeoutMs?: number
  signal?: AbortSignal
}

interface Pending {
  resolve: (response: KorvResponse) => void
  reject: (error: Error) => void
  started: number
  /** performance.now() after which it times out. */
  deadline: number
  verb: string
  resource: string
  timeoutMs: number
}

export class KorvRequests {
  private readonly pending = new Map<number, Pending>()
  private readonly queue: Array<() => void> = []
  private nextId = 0
  private closedError: RestwireError | undefined
  /**
   * One timer for every request in flight, not one each (a Timeout made, listed and unlisted per request
   * was a tenth of the client's CPU at c=64): armed for the earliest deadline it knows, it fails what is
   * due when it fires and re-arms for the next. Unreferenced while nothing waits.
   */
  private timer: NodeJS.Timeout | undefined
  private armedFor = Number.POSITIVE_INFINITY

  /** `send` writes one encoded request frame on the channel. */
  constructor(private readonly options: {maxInFlight: number; defaultTimeoutMs?: number; send(frame: Buffer): void}) {}

  get size(): number {
    return this.pending.size
  }

  request(verb: string, resource: string, body: unknown = null, options: KorvRequestOptions = {}): Promise<KorvResponse> {
    if (this.closedError) return Promise.reject(this.closedError)
    if (this.pending.size >= this.options.maxInFlight) {
      return new Promise<void>((resolve) => this.queue.push(resolve)).then(() => this.request(verb, resource, body, options))
    }

    let payload: string
    try {
      payload = stringifyJson({body, id: this.nextId + 1, resource, verb}, 'the request body')
    } catch (error) {
      return Promise.reject(error)
    }

    const id = ++this.nextId
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    return new Promise<KorvResponse>((resolve, reject) => {
      const started = performance.now()
      const deadline = started + timeoutMs
      this.pending.set(id, {deadline, reject, resolve, resource, started, timeoutMs, verb})
      if (deadline < this.armedFor) this.arm(deadline)
      else if (this.pending.size === 1) this.timer?.ref()
      options.signal?.addEventListener('abort', () => this.settle(id)?.reject(new RestwireError('RW_ERR_INTERRUPTED', 'request aborted')), {once: true})
      this.options.send(encodeGzipMember(payload))
    })
  }

  /** Resolves the request an answer is for; false when no request with its id is waiting. */
  answer(response: KorvResponseMessage): boolean {
    const entry = typeof response.request_id === 'number' ? this.settle(response.request_id) : undefined
    if (!entry) return false
    entry.resolve({body: response.body, durationMs: performance.now() - entry.started, requestId: response.request_id as number, status: response.code})
    return true
  }

  /** Fails every request waiting or queued, and every later one, with the first error given. */
  fail(error: RestwireError): void {
    if (this.closedError) return
    this.closedError = error
    clearTimeout(this.timer)
    this.timer = undefined
    this.armedFor = Number.POSITIVE_INFINITY
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(error)
    for (const waiting of this.queue.splice(0)) waiting()
  }

  private settle(id: number): Pending | undefined {
    const entry = this.pending.get(id)
    if (!entry) return undefined
    this.pending.delete(id)
    // Nothing waits: the timer must not hold the process open (it fires later and finds nothing due).
    if (this.pending.size === 0) this.timer?.unref()
    this.queue.shift()?.()
    return entry
  }

  private arm(deadline: number): void {
    clearTimeout(this.timer)
    this.armedFor = deadline
    this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(deadline - performance.now())))
  }

  /** Fails every request past its deadline, then re-arms for the earliest one left. */
  private readonly expire = (): void => {
    this.timer = undefined
    this.armedFor = Number.POSITIVE_INFINITY
    const now = performance.now()
    let next = Number.POSITIVE_INFINITY
    for (const [id, entry] of this.pending) {
      if (entry.deadline <= now) {
        this.settle(id)
        entry.reject(new TimeoutError(`no response to ${entry.verb} ${entry.resource} within ${entry.timeoutMs} ms`, {timeoutMs: entry.timeoutMs}))
      } else if (entry.deadline < next) next = entry.deadline
    }

    if (next < Number.POSITIVE_INFINITY) this.arm(next)
  }
}
