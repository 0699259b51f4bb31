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
  timer: NodeJS.Timeout
  started: number
}

export class KorvRequests {
  private readonly pending = new Map<number, Pending>()
  private readonly queue: Array<() => void> = []
  private nextId = 0
  private closedError: RestwireError | undefined

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
      const timer = setTimeout(() => this.settle(id)?.reject(new TimeoutError(`no response to ${verb} ${resource} within ${timeoutMs} ms`, {timeoutMs})), timeoutMs)
      this.pending.set(id, {reject, resolve, started: performance.now(), timer})
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
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(error)
    for (const waiting of this.queue.splice(0)) waiting()
  }

  private settle(id: number): Pending | undefined {
    const entry = this.pending.get(id)
    if (!entry) return undefined
    this.pending.delete(id)
    clearTimeout(entry.timer)
    this.queue.shift()?.()
    return entry
  }
}
