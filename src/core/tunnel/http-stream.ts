// Writes a tunnel STREAM to an HTTP response as NDJSON or Server-Sent Events, item by item, with
// backpressure; the first answer decides the status, and a client that goes away cancels the stream.
import type {ServerResponse} from 'node:http'
import {RestwireError} from '../errors.js'
import {stringifyJson} from '../json.js'
import {drained} from '../link/streams.js'
import type {TunnelStream} from './gateway-session.js'

export type StreamFormat = 'ndjson' | 'sse'

const CONTENT_TYPE: Record<StreamFormat, string> = {ndjson: 'application/x-ndjson', sse: 'text/event-stream'}
/** How long a stream's HTTP client may go without taking what was written (like nginx's send_timeout). */
export const DEFAULT_SEND_TIMEOUT_MS = 60_000

/** HTTP trailer carrying the error record of a stream that broke mid-way (clients that read trailers need not guess from the last line). */
export const STREAM_ERROR_TRAILER = 'x-restwire-stream-error'

/** The stream format an `Accept` header asks for, if any (NDJSON wins when both are listed). */
export function streamFormat(accept: string | undefined): StreamFormat | undefined {
  const value = (accept ?? '').toLowerCase()
  if (value.includes('application/x-ndjson')) return 'ndjson'
  if (value.includes('text/event-stream')) return 'sse'
  return undefined
}

/**
 * Pipes `stream` into `res`. Resolves `{ok: false, error}` without writing anything when the stream
 * fails before its first item (so the caller can answer 404, 504...); otherwise answers 200 and writes
 * every item, ending with an error record when the stream breaks mid-way.
 */
export async function pipeTunnelStream(
  stream: TunnelStream,
  res: ServerResponse,
  format: StreamFormat,
  sendTimeoutMs = DEFAULT_SEND_TIMEOUT_MS,
): Promise<{ok: true} | {ok: false; error: unknown}> {
  const iterator = stream[Symbol.asyncIterator]()
  let gone = false
  const onClose = (): void => {
    if (res.writableFinished) return
    gone = true
    void stream.cancel()
  }

  res.once('close', onClose)
  let next: IteratorResult<unknown>
  try {
    next = await iterator.next()
  } catch (error) {
    res.off('close', onClose)
    return gone ? {ok: true} : {error, ok: false}
  }

  if (gone) return {ok: true}
  res.writeHead(200, {'cache-control': 'no-cache', 'content-type': CONTENT_TYPE[format], trailer: STREAM_ERROR_TRAILER, 'x-accel-buffering': 'no'})
  res.flushHeaders()
  while (!next.done) {
    try {
      // A client that takes nothing for sendTimeoutMs loses the connection (and the stream is cancelled).
      if (!res.write(encodeItem(next.value, format)) && !(await drained(res, {timeoutMs: sendTimeoutMs}))) res.destroy()
      if (gone) return {ok: true}
      next = await iterator.next()
    } catch (error) {
      // A broken stream, or an item that cannot be written as JSON (then the node is told to stop).
      if (error instanceof RestwireError && error.code === 'RW_ERR_JSON') void stream.cancel()
      if (!gone) {
        const record = JSON.stringify(errorRecord(error))
        res.write(format === 'ndjson' ? `${record}\n` : `event: error\ndata: ${record}\n\n`)
        res.addTrailers({[STREAM_ERROR_TRAILER]: record})
      }

      break
    }
  }

  if (!gone) res.end()
  return {ok: true}
}

function encodeItem(item: unknown, format: StreamFormat): string {
  const json = stringifyJson(item, 'a stream item from the node')
  return format === 'ndjson' ? `${json}\n` : `data: ${json}\n\n`
}

function errorRecord(error: unknown): Record<string, unknown> {
  const record: Record<string, unknown> = {error: (error as Error)?.message ?? String(error)}
  if (error instanceof RestwireError) {
    record.code = error.code
    if (error.status !== undefined) record.status = error.status
  }

  return record
}

