// Runs a request handler under the shared rules: a throw is 500 (with or without traceback), a handler
// that outlives its timeout is 504, and every request gets exactly one response. A handler that
// answers synchronously is answered without a timer or a promise.
import type {Query, RequestHandler, RwRequest, RwResponse} from './request.js'
import {TimeoutError} from '../errors.js'

export const DEFAULT_HANDLER_TIMEOUT_MS = 30_000

export interface InvokeOptions {
  timeoutMs?: number
  /** Include the stack trace in 500 bodies (Korv promises it; servers may turn it off). */
  tracebacks?: boolean
}

/**
 * `abort` is told when the handler timed out, so that it can stop its work (request.signal). When it
 * is a LazyAbort aborted from outside (the caller went away), the answer is a 499 at once: nothing
 * waits for a handler that may never return.
 */
export function invokeHandler(
  handler: RequestHandler,
  request: RwRequest,
  abort: LazyAbort | ((reason: Error) => void),
  options: InvokeOptions = {},
): RwResponse | Promise<RwResponse> {
  let result: RwResponse | Promise<RwResponse>
  try {
    result = handler(request)
  } catch (error) {
    return errorResponse(error, options)
  }

  if (!(result instanceof Promise)) return validResponse(result)
  const pending = result
  const timeoutMs = options.timeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS
  return new Promise<RwResponse>((resolve) => {
    const finish = (response: RwResponse): void => {
      clearTimeout(timer)
      resolve(response)
    }

    const timer = setTimeout(() => {
      finish({body: {error: `handler timed out after ${timeoutMs} ms`}, status: 504})
      const reason = new TimeoutError('handler timed out', {timeoutMs})
      if (abort instanceof LazyAbort) abort.abort(reason)
      else abort(reason)
    }, timeoutMs)
    if (abort instanceof LazyAbort) abort.onAbort(() => finish({body: {error: 'request cancelled'}, status: 499}))
    pending.then(
      (response) => finish(validResponse(response)),
      (error: unknown) => finish(errorResponse(error, options)),
    )
  })
}

export function errorResponse(error: unknown, options: InvokeOptions): RwResponse {
  const err = error instanceof Error ? error : new Error(String(error))
  const body: Record<string, unknown> = {message: err.message || err.name}
  if (options.tracebacks !== false) body.traceback = err.stack ?? `${err.name}: ${err.message}`
  return {body, status: 500}
}

function validResponse(response: RwResponse): RwResponse {
  if (!Number.isInteger(response.status) || response.status < 100 || response.status > 599) {
    return {body: {message: `handler returned an invalid status code: ${String(response.status)}`}, status: 500}
  }

  return response
}

/**
 * An abort signal made only if a handler asks for it (most never do; making one costs per request).
 * `abort` is a method and the listener list is made on the first `onAbort`: nothing per instance
 * beyond its three fields.
 */
export class LazyAbort {
  #controller: AbortController | undefined
  #reason: unknown
  #listeners: Array<() => void> | undefined

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#reason !== undefined) this.#controller.abort(this.#reason)
    }

    return this.#controller.signal
  }

  abort(reason: unknown): void {
    if (this.#reason !== undefined) return
    this.#reason = reason ?? new Error('aborted')
    this.#controller?.abort(this.#reason)
    const listeners = this.#listeners
    this.#listeners = undefined
    if (listeners) for (const listener of listeners) listener()
  }

  /** Runs `listener` on abort (at once if already aborted). */
  onAbort(listener: () => void): void {
    if (this.#reason !== undefined) listener()
    else (this.#listeners ??= []).push(listener)
  }
}

/**
 * A request that is its own LazyAbort: one object per request, `signal` a getter on the prototype. An
 * object literal with its own `get signal()` made a new hidden class (map, descriptors, accessor pair)
 * per request, which the scavenger then kept alive through the map transition tree: at c=64 on korv
 * half the young generation survived every scavenge and the GC took a fifth of the server's time.
 */
export class AbortableRequest extends LazyAbort implements RwRequest {
  params: Record<string, string> = {}
  route: string | undefined = undefined

  constructor(
    public verb: string,
    public resource: string,
    public path: string,
    public query: Query,
    public body: unknown,
    public client: RwRequest['client'],
  ) {
    super()
  }
}
