// The pipe's traffic records, hub or node side: events this side sends (recorded when the reply
// starts: its code and the event body bytes sent) and events its handler answers (recorded when the
// handler replied). Bodies stream, so a size is what is known then: a body given whole, or the bytes
// of a streamed event body already sent; a streamed reply body is not counted. Used only with a TrafficLog.
// With a log that keeps bodies (the inspector's), both bodies of each event are recorded as they pass,
// as a bounded prefix (StreamedBody): the event body while it is sent or arrives, the reply body while
// it is sent or arrives, after the record was made (metrics counted it as above). Without one, no body
// is copied and no stream is wrapped but the one that counts a streamed event body's bytes; with a log
// only counted (metrics, no inspector), no record is built either: the fields are tallied.
import {failureOutcome} from '../observe/record.js'
import type {StreamedBody, TrafficLog, TrafficRecord} from '../observe/traffic.js'
import type {BodySource} from './body-stream.js'
import type {EventHandler, PipeEvent, PipeReply, ReplySpec} from './event-types.js'
import {RETURN_NO_HANDLER} from './messages.js'
import {IncomingEvent, Reply} from './stream.js'

/** Sends `event` through `send`, recording it (direction `out`, peer = the node or hub) when the reply starts. */
export async function observePipeRequest(traffic: TrafficLog, peer: string, event: PipeEvent, send: (event: PipeEvent) => Promise<PipeReply>): Promise<PipeReply> {
  const started = performance.now()
  const at = Date.now()
  const captured = traffic.captureBody()
  const counted = countedBody(event.body, captured)
  const headers = event.contentType ? {'content-type': event.contentType} : undefined
  if (captured && headers) captured.headers = headers
  const record = (status: number, error?: string): TrafficRecord | undefined => {
    // Metrics only (no inspector): the fields are tallied, no record is built.
    if (!traffic.recording) return void traffic.tally('pipe', 'out', event.verb, event.noun, status, error, performance.now() - started, counted.bytes(), 0)
    return traffic.add({
      at,
      direction: 'out',
      error,
      latencyMs: performance.now() - started,
      params: event.args.length > 0 ? event.args : undefined,
      path: event.noun,
      peer,
      protocol: 'pipe',
      request: captured ?? {bytes: counted.bytes(), headers},
      response: {bytes: 0},
      // The noun is the pipe's route: chosen by this side's own gateway client (metrics cap the pairs).
      route: event.noun,
      status,
      verb: event.verb,
    })
  }

  try {
    const reply = await send(counted.body === event.body ? event : {...event, body: counted.body})
    const made = record(reply.code)
    // The reply body as it arrives (a reply a cluster peer forwards is not a Reply: its body is not recorded).
    const replyBody = reply instanceof Reply ? traffic.captureBody() : undefined
    if (replyBody && made) {
      replyBody.headers = {'content-type': reply.contentType}
      traffic.attachBody(made, 'response', replyBody)
      ;(reply as Reply).tapBody(replyBody)
    }

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
    // Tapped before the handler runs, so that it sees every chunk the handler will read.
    const eventBody = event instanceof IncomingEvent ? traffic.captureBody() : undefined
    if (eventBody) {
      if (event.contentType) eventBody.headers = {'content-type': event.contentType}
      ;(event as IncomingEvent).tapBody(eventBody)
    }

    const record = (status: number, replyBytes: number, value: unknown, error?: string): TrafficRecord | undefined => {
      const route = status === RETURN_NO_HANDLER ? undefined : event.noun
      if (!traffic.recording) return void traffic.tally('pipe', 'in', event.verb, route, status, error, performance.now() - started, 0, replyBytes)
      const made = traffic.add({
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
        route,
        status,
        verb: event.verb,
      })
      if (eventBody) traffic.attachBody(made, 'request', eventBody)
      return made
    }

    try {
      const reply = await handler(event)
      const size = wholeSize(reply.body)
      const made = record(reply.code, size ?? 0, traffic.bodies && size !== undefined ? reply.body : undefined)
      if (!made || !traffic.bodies) return reply
      made.response.headers = {'content-type': reply.contentType}
      return size === undefined ? recordReplyStream(traffic, made, reply) : reply
    } catch (error) {
      record(failureOutcome(error).status, 0, undefined, failureOutcome(error).error ?? 'RW_ERR_INTERNAL')
      throw error
    }
  }
}

/** A streamed reply body, recorded as it is sent when the log keeps bodies; else the reply as it is. */
function recordReplyStream(traffic: TrafficLog, record: TrafficRecord, reply: ReplySpec): ReplySpec {
  const captured = traffic.captureBody()
  if (!captured) return reply
  captured.headers = {'content-type': reply.contentType}
  traffic.attachBody(record, 'response', captured)
  return {...reply, body: countedBody(reply.body, captured).body}
}

function wholeSize(body: BodySource | undefined): number | undefined {
  if (body === undefined) return 0
  if (typeof body === 'string') return Buffer.byteLength(body)
  if (body instanceof Uint8Array) return body.length
  return undefined
}

/**
 * A body whose bytes are counted as they are sent (a whole one is counted at once), and recorded in
 * `captured` when given. A streamed body is wrapped; its source is closed when the wrapper is (a
 * receiver that stops early must not leave a file or socket read open).
 */
function countedBody(body: BodySource | undefined, captured: StreamedBody | undefined): {body: BodySource | undefined; bytes: () => number} {
  const whole = wholeSize(body)
  if (whole !== undefined) {
    if (captured && body !== undefined) captured.add(body as Uint8Array | string)
    return {body, bytes: () => whole}
  }

  let sent = 0
  const source = body as AsyncIterable<Buffer | Uint8Array | string>
  const counted: AsyncIterable<Buffer | Uint8Array | string> & {destroy(): void} = {
    async *[Symbol.asyncIterator]() {
      for await (const chunk of source) {
        sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
        captured?.add(chunk)
        yield chunk
      }
    },
    // The session destroys a reply body it will not send (the event was reset while the handler ran).
    destroy: () => (source as {destroy?: () => void}).destroy?.(),
  }
  return {body: counted, bytes: () => sent}
}
