// One pipe event (or a tunnel call carried as one, tunnel-cluster.ts) from the hub that received it
// (the caller) to the hub that holds the node (the holder), and its reply back, over NATS. Each hub has
// one inbox subscription for all its calls (call-inbox.ts); a call is an id under it. The caller
// publishes the open on the node's subject with its call subject as reply subject: if no hub holds the
// node, the NATS server itself answers there with status 503 (no responders). A small call is two
// messages: the open, carrying the request body, and one data message carrying the reply's start, its
// whole body and the end; the holder's call subject rides on that data message. The messages are bytes
// (wire.ts), published through the link's per-turn batch (nats-link.ts):
//   open    caller → node subject  the event, its timeout, the caller's hub id, and the request body when
//                                  inline (or: a body follows, streamed); reply subject = caller's call
//   ack     holder → caller        where to send a streamed request body, credit and cancel. Sent at
//                                  once for a streamed body, else only if the reply has not started
//                                  within ACK_DELAY_MS (so that a cancel can reach the holder)
//   data    both ways              body chunks (body-flow.ts); the holder's first one carries the reply's
//                                  start, and the ack if not sent yet
//   credit  both ways              body-flow.ts
//   error   holder → caller        {code, status, message}: the event failed (as RestwireError), or the
//                                  holder gave the call up (its NATS link was lost, it judged the caller's
//                                  hub gone, it is closing): never a silent end, which left the caller
//                                  waiting for its open bound or its credit
//   cancel  caller → holder        the HTTP client went away or the reply body was abandoned; also the
//                                  answer to data or an ack for a call that is over
import {Readable} from 'node:stream'
import {ERROR_CATALOGUE, PeerGoneError, RestwireError, errorForCode} from '../errors.js'
import {BodyInbox, CHUNK_BYTES, type ChunkSink, Credit, type Prefetched, sendBody} from './body-flow.js'
import type {CallInbox, CallMessage} from './call-inbox.js'
import type {PipeEvent, PipeReply, SendOptions} from '../pipe/session.js'
import {CallAbort} from '../pipe/call-signal.js'
import {DEFAULT_MAX_READ_BYTES} from '../pipe/event-types.js'
import {Reply} from '../pipe/stream.js'
import type {NatsLink} from './nats-link.js'
import type {ClusterSubjects} from './subjects.js'
import {
  CANCEL, MessageType, OpenBody, type OpenMeta, decodeAck, decodeCredit, decodeData, decodeError, decodeOpen, encodeAck, encodeCredit, encodeData, encodeError, encodeOpen,
} from './wire.js'

/**
 * Bound on the holder's first word (ack, reply or error): it comes within ACK_DELAY_MS unless NATS or
 * the hub is stuck, and a holder that gives a call up says so. A dead hub is found sooner by
 * hub-watch's pings.
 */
const OPEN_TIMEOUT_MS = 15_000
/** A reply that starts sooner carries the ack itself: one message fewer per call. */
const ACK_DELAY_MS = 100
/** Calls this hub serves for other hubs at once; more are refused with 503 (a flood of opens). */
export const MAX_SERVED_CALLS = 10_000

/** The node has no subscriber anywhere: it is connected to no hub. */
export class NotConnectedAnywhere extends Error {}

export interface ForwardHost {
  link: NatsLink
  subjects: ClusterSubjects
  inbox: CallInbox
  /** Fails `fail` with 503 when `hubId` dies or NATS is lost; returns the unwatch. */
  watch(hubId: string, fail: (error: RestwireError) => void): () => void
  /** Something a hostile or broken member sent, for the hub's log. */
  report(problem: string): void
  /** Calls served for other hubs now (this hub holds the node), each with its stop (hub closing). */
  served: Set<(error: RestwireError) => void>
}

function sendError(host: ForwardHost, subject: string, value: {code: string; status: number; message: string}): void {
  host.link.send(subject, encodeError(value))
}

/** A ChunkSink publishing data messages to `subject`; `first()` gives the reply's start and the ack for the first one. */
function dataSink(
  host: ForwardHost,
  subject: string,
  over: () => boolean,
  first?: () => {reply: {code: number; contentType: string}; call?: {call: string; hub: string}},
): ChunkSink {
  return (seq, payload, end) => {
    if (over()) return false
    const start = seq === 0 ? first?.() : undefined
    host.link.send(subject, encodeData(seq, payload, end, start?.reply, start?.call))
    return true
  }
}

/** The error another hub reported; a code this catalogue does not know (or a status code) is a peer gone. */
export function errorFrom(value: {code?: unknown; status?: unknown; message?: unknown}): RestwireError {
  const code = typeof value.code === 'string' && Object.hasOwn(ERROR_CATALOGUE, value.code) && !value.code.startsWith('RW_ERR_REMOTE_') ? value.code : 'RW_ERR_CLOSED'
  const status = typeof value.status === 'number' && Number.isInteger(value.status) && value.status >= 400 && value.status < 600 ? value.status : 502
  const text = typeof value.message === 'string' ? value.message.slice(0, 1000) : 'the other hub failed the event'
  return errorForCode(code as Parameters<typeof errorForCode>[0], text, {status})
}

/** A message for a call that is over: data or an ack naming the holder's call gets a cancel, so the holder stops. */
export function strayMessage(host: ForwardHost, msg: CallMessage): void {
  const data = msg.data
  let call = ''
  if (data[0] === MessageType.ack) call = decodeAck(data).call
  else if (data[0] === MessageType.data) call = decodeData(data).call?.call ?? ''
  if (call.startsWith('_INBOX.')) host.link.send(call, CANCEL)
}

/**
 * Sends `event` to `node` on whichever hub holds it; resolves when the reply starts. NotConnectedAnywhere
 * if none does (nothing of `body` was sent then: a retry sends the same). `body`: the event's body as
 * prefetchBody read it ahead, once for every attempt: reading the source again would skip what the first
 * attempt read. `hubId`: the hub the directory places it on, watched until the holder names itself.
 */
export function forwardEvent(host: ForwardHost, node: string, event: PipeEvent, body: Prefetched | undefined, options: SendOptions, hubId?: string): Promise<PipeReply> {
  if (host.link.state !== 'connected') {
    return Promise.reject(new PeerGoneError(`node "${node}" is not on this hub, and the cluster is degraded (NATS unreachable)`, {status: 503}))
  }

  return new CallerSide(host, node, event, options, body, hubId).reply
}

class CallerSide {
  readonly reply: Promise<PipeReply>
  private readonly inbox: string
  /** Only for a streamed request body. */
  private credit: Credit | undefined
  /** Only for a reply that streams (not whole in its first message). */
  private body: BodyInbox | undefined
  private settle!: {resolve: (reply: PipeReply) => void; reject: (error: Error) => void}
  private settled = false
  private call: string | undefined
  private done = false
  private replied = false
  private watched: string | undefined
  private unwatch: () => void = () => {}
  private readonly openTimer: NodeJS.Timeout
  private readonly onAbort = (): void => this.fail(new PeerGoneError('the caller went away', {status: 499}), true)

  constructor(
    private readonly host: ForwardHost,
    private readonly node: string,
    event: PipeEvent,
    private readonly options: SendOptions,
    private readonly request: Prefetched | undefined,
    hubId: string | undefined,
  ) {
    this.reply = new Promise((resolve, reject) => (this.settle = {reject, resolve}))
    if (request && 'streamed' in request) this.credit = new Credit()
    const open = encodeOpen(
      {args: event.args, contentType: event.contentType, hub: host.link.hubId, noun: event.noun, timeoutMs: options.timeoutMs, verb: event.verb},
      request ? ('inline' in request ? request.inline : 'stream') : undefined,
    )
    this.inbox = host.inbox.open((msg) => this.receive(msg))
    if (hubId) this.watchHub(hubId)
    host.link.send(host.subjects.node(node), open, this.inbox)
    this.openTimer = setTimeout(() => this.fail(new PeerGoneError(`node "${node}": the hub holding it did not answer within ${OPEN_TIMEOUT_MS} ms`, {status: 503}), true), OPEN_TIMEOUT_MS)
    options.signal?.addEventListener('abort', this.onAbort, {once: true})
    if (options.signal?.aborted) this.onAbort()
  }

  private resolve(reply: PipeReply): void {
    this.settled = true
    this.settle.resolve(reply)
  }

  private reject(error: Error): void {
    this.settled = true
    this.settle.reject(error)
  }

  private receive(msg: CallMessage): void {
    const data = msg.data
    // The server's own answer to the open (no payload, status 503): no subscriber on the node's subject.
    if (data.byteLength === 0) {
      if (msg.headers?.code !== 503) return this.host.report(`an empty message for a call to ${this.node}`)
      this.reject(new NotConnectedAnywhere(this.node))
      return this.finish()
    }

    try {
      this.dispatch(data)
    } catch (error) {
      this.host.report(`a malformed message for a call to ${this.node} (${(error as Error).message})`)
      this.fail(new RestwireError('RW_ERR_PROTOCOL', `the hub holding node "${this.node}" sent a malformed message`, {status: 502}), true)
    }
  }

  private dispatch(data: Uint8Array): void {
    const type = data[0]
    if (type === MessageType.data) {
      const message = decodeData(data)
      if (this.call === undefined && message.call) this.acked(message.call.call, message.call.hub)
      if (message.reply) {
        if (this.replied) throw new Error('a second reply start')
        this.replied = true
        // The whole reply in this one message: no body inbox, no stream until the consumer asks.
        if (message.end && message.seq === 0) {
          this.resolve(new Reply(message.reply, Buffer.from(message.body)))
          return this.finish()
        }

        this.started(message.reply)
      } else if (!this.replied) {
        return this.fail(new RestwireError('RW_ERR_PROTOCOL', `the hub holding node "${this.node}" sent a body before the reply's start`, {status: 502}), true)
      }

      this.body!.push(message.seq, message.body, message.end)
      if (message.end) this.finish()
    } else if (type === MessageType.ack) {
      const {call, hub} = decodeAck(data)
      this.acked(call, hub)
    } else if (type === MessageType.credit) this.credit?.grant(decodeCredit(data))
    else if (type === MessageType.error) this.fail(errorFrom(decodeError(data)), false)
    else this.host.report(`a message of unknown type ${String(type)} for a call to ${this.node}`)
  }

  private watchHub(hubId: string): void {
    if (this.watched === hubId) return
    this.unwatch()
    this.watched = hubId
    // Told too: a hub judged gone that is alive after all (a stall) stops serving the call.
    this.unwatch = this.host.watch(hubId, (error) => this.fail(error, true))
  }

  private acked(call: string, hub: string): void {
    if (this.call !== undefined) return
    clearTimeout(this.openTimer)
    if (this.done) return void this.host.link.send(call, CANCEL)
    this.call = call
    if (hub) this.watchHub(hub)
    if (!this.request || !('streamed' in this.request)) return
    sendBody(this.request.streamed, this.credit!, dataSink(this.host, call, () => this.done)).catch((error: unknown) =>
      this.fail(error instanceof RestwireError ? error : new PeerGoneError(`the body source failed: ${(error as Error).message}`, {status: 502}), true),
    )
  }

  private started(meta: {code: number; contentType: string}): void {
    let readable: Readable | undefined
    const body = (this.body = new BodyInbox(
      (n) => this.call && this.host.link.send(this.call, encodeCredit(n)),
      () => this.fail(new PeerGoneError('the reply body was abandoned', {status: 499}), true),
    ))
    this.resolve({
      get body() {
        return (readable ??= Readable.from(body, {objectMode: false}))
      },
      ...meta,
      async read(maxBytes = DEFAULT_MAX_READ_BYTES) {
        const chunks: Buffer[] = []
        let total = 0
        for await (const chunk of body) {
          total += chunk.length
          if (total > maxBytes) throw new RangeError(`the body is larger than ${maxBytes} bytes`)
          chunks.push(chunk)
        }

        return Buffer.concat(chunks)
      },
    })
  }

  private fail(error: RestwireError, tellHolder: boolean): void {
    if (this.done) return
    if (tellHolder && this.call) this.host.link.send(this.call, CANCEL)
    if (!this.settled) this.reject(error)
    this.body?.fail(error)
    this.finish()
  }

  private finish(): void {
    if (this.done) return
    this.done = true
    // Never left pending, whatever ended the call.
    if (!this.settled) this.reject(new PeerGoneError(`the call to node "${this.node}" ended before its reply`, {status: 502}))
    clearTimeout(this.openTimer)
    this.credit?.stop()
    this.unwatch()
    this.options.signal?.removeEventListener('abort', this.onAbort)
    this.host.inbox.close(this.inbox)
  }
}

/** What the holder calls to send an event to its local node. */
export type LocalRequest = (event: PipeEvent, options: SendOptions) => Promise<PipeReply>

/** An open as the holder receives it: alone in a NATS message, or an entry of a batch (its reply subject the entry's address). */
export interface OpenMessage {
  subject: string
  reply?: string
  data: Uint8Array
}

/** The open's fields and inline body; undefined (reported) when malformed. */
function parseOpen(host: ForwardHost, msg: OpenMessage): {meta: OpenMeta; inline?: Buffer} | undefined {
  try {
    return decodeOpen(msg.data)
  } catch (error) {
    host.report(`a malformed open on ${msg.subject} (${(error as Error).message})`)
    return undefined
  }
}

/** The error a failure travels as to the caller. */
function errorValue(error: unknown): {code: string; status: number; message: string} {
  const failure = error instanceof RestwireError ? error : undefined
  const status = typeof failure?.details?.status === 'number' ? failure.details.status : 502
  return {code: failure?.code ?? 'RW_ERR_CLOSED', message: (error as Error).message, status}
}

/** The holder's side of one call opened by `msg` on a node's subject. */
export function serveCall(host: ForwardHost, msg: OpenMessage, request: LocalRequest | undefined): void {
  const caller = msg.reply
  if (!caller) return host.report(`an open on ${msg.subject} without a reply subject`)
  const open = parseOpen(host, msg)
  if (!open) return sendError(host, caller, {code: 'RW_ERR_PROTOCOL', message: 'a malformed open', status: 502})
  const {meta} = open
  if (!request) return sendError(host, caller, {code: 'RW_ERR_CLOSED', message: 'the node just left the hub holding it', status: 503})
  if (host.served.size >= MAX_SERVED_CALLS) {
    host.report(`more than ${MAX_SERVED_CALLS} calls from other hubs at once: refused one (503)`)
    return sendError(host, caller, {code: 'RW_ERR_CLOSED', message: 'the hub holding the node is overloaded', status: 503})
  }

  // Not an AbortController: one per served call (its EventTarget, listeners and their GC) was a visible
  // share of the holder's CPU, and the pipe session asks every request for its signal.
  const signal = new CallAbort((error) => host.report(`a listener of a served call's cancel failed (${error.message})`))
  const abort = (): void => signal.abort()
  const signalOptions: SendOptions = {signal, timeoutMs: meta.timeoutMs}
  const credit = new Credit()
  let done = false
  let acked = false
  const streamed = meta.body === OpenBody.stream
  const body = streamed ? new BodyInbox((n) => host.link.send(caller, encodeCredit(n))) : undefined
  const call = host.inbox.open((m) => {
    const data = m.data
    const type = data[0]
    if (type === MessageType.data) {
      const message = decodeData(data)
      body?.push(message.seq, message.body, message.end)
    } else if (type === MessageType.credit) credit.grant(decodeCredit(data))
    else if (type === MessageType.cancel) {
      body?.fail(new PeerGoneError('the caller went away', {status: 499}))
      abort()
      finish()
    }
  })
  const ack = (): {call: string; hub: string} | undefined => {
    if (acked) return undefined
    acked = true
    clearTimeout(ackTimer)
    return {call, hub: host.link.hubId}
  }

  const ackTimer = setTimeout(() => {
    const named = ack()
    if (named) host.link.send(caller, encodeAck(named.call, named.hub))
  }, streamed ? 0 : ACK_DELAY_MS)
  // The hub gives the call up (the caller's hub judged gone, this hub's NATS link lost, this hub
  // closing): the caller is told, whatever the cause. Nobody hears it if the caller's hub is really
  // gone, nor when this hub's link is down (the client drops what it queued when it redials): the
  // caller's pings of this hub then find no responders.
  const stop = (error: RestwireError): void => {
    if (done) return
    sendError(host, caller, errorValue(error))
    body?.fail(error)
    abort()
    finish()
  }
  host.served.add(stop)
  const unwatch = host.watch(meta.hub, stop)
  function finish(): void {
    if (done) return
    done = true
    host.served.delete(stop)
    clearTimeout(ackTimer)
    credit.stop()
    unwatch()
    host.inbox.close(call)
  }

  const event: PipeEvent = {args: meta.args, body: open.inline ?? body, contentType: meta.contentType, noun: meta.noun, verb: meta.verb}
  void (async () => {
    let reply: PipeReply | undefined
    let whole: Buffer | undefined
    try {
      reply = await request(event, signalOptions)
      if (done) return
      const start = {code: reply.code, contentType: reply.contentType}
      whole = reply instanceof Reply ? reply.wholeBody() : undefined
      const sink = dataSink(host, caller, () => done, () => ({call: ack(), reply: start}))
      // A whole reply of one chunk is one data message, sent now: the window is never empty for the
      // first chunk, so there is no credit to wait for (sendBody would take a few turns to say so).
      if (whole && whole.byteLength <= CHUNK_BYTES) sink(0, whole, true)
      else await sendBody(whole ?? reply.body, credit, sink)
    } catch (error) {
      if (!done) sendError(host, caller, errorValue(error))
    } finally {
      // Stopped before the end (the caller went away, or stopped granting credit): destroying the
      // local body resets the node's stream.
      if (reply && !whole && (done || !reply.body.readableEnded)) reply.body.destroy()
      finish()
    }
  })()
}
