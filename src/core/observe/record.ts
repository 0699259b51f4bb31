// Small helpers the servers share when they build traffic records: body sizes of JSON values and the
// status and error code a failed exchange is recorded with. Called only when a TrafficLog is attached.
import {RestwireError} from '../errors.js'

/** UTF-8 bytes of `value` as JSON; 0 for undefined or a value JSON cannot hold. */
export function jsonBytes(value: unknown): number {
  if (value === undefined) return 0
  if (Buffer.isBuffer(value)) return value.length
  try {
    const text = JSON.stringify(value)
    return text === undefined ? 0 : Buffer.byteLength(text)
  } catch {
    return 0
  }
}

/** The status a failed exchange is recorded with: the peer's own when it answered, else 0 and the error code. */
export function failureOutcome(error: unknown): {status: number; error?: string; body?: unknown} {
  if (error instanceof RestwireError) {
    const body = (error as {body?: unknown}).body
    if (error.code === 'RW_ERR_REMOTE_4XX' || error.code === 'RW_ERR_REMOTE_5XX') return {body, status: error.status ?? 0}
    return {error: error.code, status: 0}
  }

  return {error: 'RW_ERR_INTERNAL', status: 0}
}
