// The pipe's traffic records, hub or node side: events this side sends (recorded when the reply
// starts: its code and the event body bytes sent) and events its handler answers (recorded when the
// handler replied). Bodies stream, so a size is what is known then: a body given whole, or the bytes
// of a streamed event body already sent; a streamed reply body is not counted. Used only with a TrafficLog.
import {failureOutcome} from '../observe/record.js'
import type {TrafficLog} from '../observe/traffic.js'
import type {BodySource} from './body-stream.js'
import type {EventHandler, PipeEvent, PipeReply} from './event-types.js'
import {RETURN_NO_HANDLER} from './messages.js'

/** Sends `event` through `send`, recording it (direction `out`, peer = the node or hub) when the reply starts. */
export async function observePipeRequest(traffic: TrafficLog, peer: string, event: PipeEvent, send: (event: PipeEvent) => Promise<PipeReply>): Promise<PipeReply> {
  const started = performance.now()
  const at = Date.now()
  const counted = countedBody(event.body)
  const record = (status: number, error?: string): void => {
    traffic.add({
      at,
      direction: 'out',
      error,
      latencyMs: performance.now() - started,
      params: event.args.length > 0 ? event.args : undefined,
      path: event.noun,
      peer,
      protocol: 'pipe',
      request: {bytes: counted.bytes(), headers: event.contentType ? {'content-type': event.contentType} : undefined},
      response: {bytes: 0},
      // The noun is the pipe's route: chosen by this side's own gateway client (metrics cap the pairs).
      route: event.noun,
      status,
      verb: event.verb,
    })
  }

  try {
    const reply = await send(counted.body === event.body ? event : {...event, body: counted.body})
    record(reply.code)
    return reply
  } catch (error) {
    const outcome = failureOutcome(error)
    record(outcome.status, outcome.error)
    throw error
  }
}

/** The handler, recording each event it answered (direction `in`, peer = who sent it). */
export function observePipeHandler(traffic: TrafficLog, handler: EventHandler): EventHandler {
  return async (event) => {
    const started = performance.now()
    const at = Date.now()
    const record = (status: number, replyBytes: number, value: unknown, error?: string): void => {
      traffic.add({
        at,
        direction: 'in',
        error,
        latencyMs: performance.now() - started,
        path: event.noun,
        peer: event.peer,
        protocol: 'pipe',
        request: {bytes: 0},
        response: {bytes: replyBytes, value},
        // A noun no handler answers (255) is the peer's free text: one label for all of them.
        route: status === RETURN_NO_HANDLER ? undefined : event.noun,
        status,
        verb: event.verb,
      })
    }

    try {
      const reply = await handler(event)
      const size = wholeSize(reply.body)
      record(reply.code, size ?? 0, traffic.bodies && size !== undefined ? reply.body : undefined)
      return reply
    } catch (error) {
      record(failureOutcome(error).status, 0, undefined, failureOutcome(error).error ?? 'RW_ERR_INTERNAL')
      throw error
    }
  }
}

function wholeSize(body: BodySource | undefined): number | undefined {
  if (body === undefined) return 0
  if (typeof body === 'string') return Buffer.byteLength(body)
  if (body instanceof Uint8Array) return body.length
  return undefined
}

/** A body whose bytes are counted as they are sent (a whole one is counted at once). */
function countedBody(body: BodySource | undefined): {body: BodySource | undefined; bytes: () => number} {
  const whole = wholeSize(body)
  if (whole !== undefined) return {body, bytes: () => whole}
  let sent = 0
  const source = body as AsyncIterable<Buffer | Uint8Array | string>
  const counted: AsyncIterable<Buffer | Uint8Array | string> = {
    async *[Symbol.asyncIterator]() {
      for await (const chunk of source) {
        sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
        yield chunk
      }
    },
  }
  return {body: counted, bytes: () => sent}
}
