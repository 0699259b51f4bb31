// Runs a request handler under the shared rules: a throw is 500 (with or without traceback), a handler
// that outlives its timeout is 504, and every request gets exactly one response.
import type {RequestHandler, RwRequest, RwResponse} from './request.js'

export const DEFAULT_HANDLER_TIMEOUT_MS = 30_000

export interface InvokeOptions {
  timeoutMs?: number
  /** Include the stack trace in 500 bodies (Korv promises it; servers may turn it off). */
  tracebacks?: boolean
}

export async function invokeHandler(
  handler: RequestHandler,
  request: RwRequest,
  controller: AbortController,
  options: InvokeOptions = {},
): Promise<RwResponse> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<RwResponse>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error('handler timed out'))
      resolve({body: {error: `handler timed out after ${timeoutMs} ms`}, status: 504})
    }, timeoutMs)
  })
  try {
    return await Promise.race([new Promise<RwResponse>((resolve) => resolve(handler(request))).then(validResponse, (error) => errorResponse(error, options)), timedOut])
  } finally {
    clearTimeout(timer)
  }
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
