// One pipe event (or a tunnel call carried as one, tunnel-cluster.ts) from the hub that received it
// (the caller) to the hub that holds the node (the holder), and its reply back, over NATS. Each hub has
// one inbox subscription for all its calls (call-inbox.ts); a call is an id under it. The caller
// publishes the open on the node's subject with its call subject as reply subject: if no hub holds the
// node, the NATS server itself answers there with status 503 (no responders). A small call is two
// messages: the open, carrying the request body, and one data message carrying the reply's start, its
// whole body and the end; the holder's call subject rides on that data message.
//
// Messages (header rw-t):
//   open    caller → node subject  payload = meta JSON, then the request body when inline; rw-ml = the
//                                  meta's length in bytes. meta = {hub, verb, noun, args, contentType,
//                                  timeoutMs, body?: 'inline' | 'stream'}; reply subject = caller's call
//   ack     holder → caller        {call, hub}: where to send a streamed request body, credit and cancel.
//                                  Sent at once for a streamed body, else only if the reply has not
//                                  started within ACK_DELAY_MS (so that a cancel can reach the holder)
//   data    both ways              body chunks (body-flow.ts); the holder's first one carries
//                                  rw-reply = {code, contentType}, and rw-call / rw-hub if not acked yet
//   credit  both ways              body-flow.ts
//   error   holder → caller        {code, status, message}: the event failed (as RestwireError)
//   cancel  caller → holder        the HTTP client went away or the reply body was abandoned; also the
//                                  answer to data or an ack for a call that is over
import {Readable} from 'node:stream'
import {type Msg, type MsgHdrs, headers as natsHeaders} from '@nats-io/transport-node'
import {ERROR_CATALOGUE, PeerGoneError, RestwireError, errorForCode} from '../errors.js'
import {BodyInbox, type ChunkSink, Credit, prefetchBody, sendBody} from './body-flow.js'
import type {CallInbox} from './call-inbox.js'
import type {PipeEvent, PipeReply, SendOptions} from '../pipe/session.js'
import {DEFAULT_MAX_READ_BYTES} from '../pipe/event-types.js'
import {Reply} from '../pipe/stream.js'
import type {NatsLink} from './nats-link.js'
import type {ClusterSubjects} from './subjects.js'

/**
 * Bound on the holder's first word (ack or reply): it comes within ACK_DELAY_MS unless NATS or the hub
 * is stuck. A dead hub is found sooner by hub-watch's pings; 5 s proved too short on a loaded machine.
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

interface OpenMeta {
  hub: string
  verb: string
  noun: string
  args: string[]
  contentType?: string
  timeoutMs: number
  body?: 'inline' | 'stream'
}

function message(type: string, extra?: Record<string, string>): MsgHdrs {
  const h = natsHeaders()
  h.set('rw-t', type)
  if (extra) for (const [key, value] of Object.entries(extra)) h.set(key, value)
  return h
}

function publish(host: ForwardHost, subject: string, type: string, value?: unknown, extra?: Record<string, string>): void {
  if (host.link.nc.isClosed()) return
  host.link.nc.publish(subject, value === undefined ? undefined : JSON.stringify(value), {headers: message(type, extra)})
}

/** A ChunkSink publishing data messages to `subject`; `first()` adds headers to the first one only. */
function dataSink(host: ForwardHost, subject: string, over: () => boolean, first?: () => Record<string, string>): ChunkSink {
  return (seq, payload, end) => {
    if (over() || host.link.nc.isClosed()) return false
    const extra: Record<string, string> = {'rw-seq': String(seq), ...(end ? {'rw-end': '1'} : {}), ...(seq === 0 ? first?.() : {})}
    host.link.nc.publish(subject, payload, {headers: message('data', extra)})
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

/** A reply's start as the holder sent it (rw-reply), or undefined when malformed. */
function replyMeta(header: string): {code: number; contentType: string} | undefined {
  try {
    const {code, contentType} = JSON.parse(header) as {code?: unknown; contentType?: unknown}
    return Number.isInteger(code) && typeof contentType === 'string' ? {code: code as number, contentType} : undefined
  } catch {
    return undefined
  }
}

function pushData(body: BodyInbox | undefined, msg: Msg): void {
  body?.push(Number(msg.headers!.get('rw-seq')), msg.data, msg.headers!.get('rw-end') === '1')
}

/** A message for a call that is over: data or an ack naming the holder's call gets a cancel, so the holder stops. */
export function strayMessage(host: ForwardHost, msg: Msg): void {
  const type = msg.headers?.get('rw-t')
  let call = type === 'data' ? msg.headers!.get('rw-call') : ''
  if (type === 'ack') call = String(msg.json<{call?: unknown}>().call ?? '')
  if (call.startsWith('_INBOX.')) publish(host, call, 'cancel')
}

/**
 * Sends `event` to `node` on whichever hub holds it; resolves when the reply starts. NotConnectedAnywhere
 * if none does. `hubId`: the hub the directory places it on, watched until the holder names itself.
 */
export async function forwardEvent(host: ForwardHost, node: string, event: PipeEvent, options: SendOptions, hubId?: string): Promise<PipeReply> {
  if (host.link.state !== 'connected') {
    throw new PeerGoneError(`node "${node}" is not on this hub, and the cluster is degraded (NATS unreachable)`, {status: 503})
  }

  const body = event.body === undefined ? undefined : await prefetchBody(event.body)
  return new CallerSide(host, node, event, options, body, hubId).reply
}

class CallerSide {
  readonly reply: Promise<PipeReply>
  private readonly inbox: string
  private readonly credit = new Credit()
  private readonly body: BodyInbox
  private settle!: {resolve: (reply: PipeReply) => void; reject: (error: Error) => void}
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
    private readonly request: {inline: Buffer} | {streamed: NonNullable<PipeEvent['body']>} | undefined,
    hubId: string | undefined,
  ) {
    this.reply = new Promise((resolve, reject) => (this.settle = {reject, resolve}))
    this.body = new BodyInbox(
      (n) => this.call && publish(host, this.call, 'credit', undefined, {'rw-n': String(n)}),
      () => this.fail(new PeerGoneError('the reply body was abandoned', {status: 499}), true),
    )
    this.inbox = host.inbox.open((msg) => this.receive(msg))
    if (hubId) this.watchHub(hubId)
    const inline = request && 'inline' in request ? request.inline : undefined
    const meta: OpenMeta = {
      args: event.args, contentType: event.contentType, hub: host.link.hubId, noun: event.noun, timeoutMs: options.timeoutMs, verb: event.verb,
      ...(request ? {body: inline ? 'inline' : 'stream'} : {}),
    }
    const metaBytes = Buffer.from(JSON.stringify(meta))
    const payload = inline ? Buffer.concat([metaBytes, inline]) : metaBytes
    host.link.nc.publish(host.subjects.node(node), payload, {headers: message('open', {'rw-ml': String(metaBytes.byteLength)}), reply: this.inbox})
    this.openTimer = setTimeout(() => this.fail(new PeerGoneError(`node "${node}": the hub holding it did not answer within ${OPEN_TIMEOUT_MS} ms`, {status: 503}), true), OPEN_TIMEOUT_MS)
    options.signal?.addEventListener('abort', this.onAbort, {once: true})
    if (options.signal?.aborted) this.onAbort()
  }

  private receive(msg: Msg): void {
    // The server's own answer to the open: no subscriber on the node's subject.
    if (msg.headers?.code === 503) {
      this.settle.reject(new NotConnectedAnywhere(this.node))
      return this.finish()
    }

    const type = msg.headers?.get('rw-t')
    if (type === 'ack') {
      const {call, hub} = msg.json<{call?: unknown; hub?: unknown}>()
      if (typeof call === 'string' && typeof hub === 'string') this.acked(call, hub)
    } else if (type === 'data') {
      if (this.call === undefined && msg.headers!.get('rw-call')) this.acked(msg.headers!.get('rw-call'), msg.headers!.get('rw-hub'))
      const reply = msg.headers!.get('rw-reply')
      const end = msg.headers!.get('rw-end') === '1'
      if (reply) {
        const meta = replyMeta(reply)
        if (!meta) return this.fail(new RestwireError('RW_ERR_PROTOCOL', `the hub holding node "${this.node}" sent a malformed reply`, {status: 502}), true)
        this.replied = true
        // The whole reply in this one message: no body inbox, no stream until the consumer asks.
        if (end && msg.headers!.get('rw-seq') === '0') {
          this.settle.resolve(new Reply(meta, Buffer.from(msg.data)))
          return this.finish()
        }

        this.started(meta)
      } else if (!this.replied) {
        return this.fail(new RestwireError('RW_ERR_PROTOCOL', `the hub holding node "${this.node}" sent a body before the reply's start`, {status: 502}), true)
      }

      pushData(this.body, msg)
      if (msg.headers!.get('rw-end') === '1') this.finish()
    } else if (type === 'credit') this.credit.grant(Number(msg.headers!.get('rw-n')))
    else if (type === 'error') this.fail(errorFrom(msg.json()), false)
    else this.host.report(`a message of unknown type "${String(type)}" for a call to ${this.node}`)
  }

  private watchHub(hubId: string): void {
    if (this.watched === hubId) return
    this.unwatch()
    this.watched = hubId
    this.unwatch = this.host.watch(hubId, (error) => this.fail(error, false))
  }

  private acked(call: string, hub: string): void {
    if (this.call !== undefined) return
    clearTimeout(this.openTimer)
    if (this.done) return void publish(this.host, call, 'cancel')
    this.call = call
    this.watchHub(hub)
    if (!this.request || !('streamed' in this.request)) return
    sendBody(this.request.streamed, this.credit, dataSink(this.host, call, () => this.done)).catch((error: unknown) =>
      this.fail(error instanceof RestwireError ? error : new PeerGoneError(`the body source failed: ${(error as Error).message}`, {status: 502}), true),
    )
  }

  private started(meta: {code: number; contentType: string}): void {
    let readable: Readable | undefined
    const {body} = this
    this.settle.resolve({
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
    if (tellHolder && this.call) publish(this.host, this.call, 'cancel')
    this.settle.reject(error)
    this.body.fail(error)
    this.finish()
  }

  private finish(): void {
    if (this.done) return
    this.done = true
    // Never left pending, whatever ended the call (a no-op once the reply started).
    this.settle.reject(new PeerGoneError(`the call to node "${this.node}" ended before its reply`, {status: 502}))
    clearTimeout(this.openTimer)
    this.credit.stop()
    this.unwatch()
    this.options.signal?.removeEventListener('abort', this.onAbort)
    this.host.inbox.close(this.inbox)
  }
}

/** What the holder calls to send an event to its local node. */
export type LocalRequest = (event: PipeEvent, options: SendOptions) => Promise<PipeReply>

/** The open's meta and inline body; undefined (reported) when malformed. */
function parseOpen(host: ForwardHost, msg: Msg): {meta: OpenMeta; inline?: Buffer} | undefined {
  try {
    const length = Number(msg.headers?.get('rw-ml'))
    if (!Number.isInteger(length) || length <= 0 || length > msg.data.byteLength) throw new Error('no meta length')
    const meta = JSON.parse(Buffer.from(msg.data.buffer, msg.data.byteOffset, length).toString('utf8')) as OpenMeta
    const strings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string')
    if (typeof meta?.hub !== 'string' || typeof meta.verb !== 'string' || typeof meta.noun !== 'string' || !strings(meta.args) || typeof meta.timeoutMs !== 'number' || !(meta.timeoutMs > 0)) {
      throw new Error('missing fields')
    }

    if (meta.contentType !== undefined && typeof meta.contentType !== 'string') throw new Error('bad content type')
    return {inline: meta.body === 'inline' ? Buffer.from(msg.data.subarray(length)) : undefined, meta}
  } catch (error) {
    host.report(`a malformed open on ${msg.subject} (${(error as Error).message})`)
    return undefined
  }
}

/** The holder's side of one call opened by `msg` on a node's subject. */
export function serveCall(host: ForwardHost, msg: Msg, request: LocalRequest | undefined): void {
  const caller = msg.reply
  if (!caller) return host.report(`an open on ${msg.subject} without a reply subject`)
  const open = parseOpen(host, msg)
  if (!open) return publish(host, caller, 'error', {code: 'RW_ERR_PROTOCOL', message: 'a malformed open', status: 502})
  const {meta} = open
  if (!request) return publish(host, caller, 'error', {code: 'RW_ERR_CLOSED', message: 'the node just left the hub holding it', status: 503})
  if (host.served.size >= MAX_SERVED_CALLS) {
    host.report(`more than ${MAX_SERVED_CALLS} calls from other hubs at once: refused one (503)`)
    return publish(host, caller, 'error', {code: 'RW_ERR_CLOSED', message: 'the hub holding the node is overloaded', status: 503})
  }

  const controller = new AbortController()
  const credit = new Credit()
  let done = false
  let acked = false
  const body = meta.body === 'stream' ? new BodyInbox((n) => publish(host, caller, 'credit', undefined, {'rw-n': String(n)})) : undefined
  const call = host.inbox.open((m) => {
    const type = m.headers?.get('rw-t')
    if (type === 'data') pushData(body, m)
    else if (type === 'credit') credit.grant(Number(m.headers!.get('rw-n')))
    else if (type === 'cancel') {
      body?.fail(new PeerGoneError('the caller went away', {status: 499}))
      controller.abort()
      finish()
    }
  })
  const ack = (): Record<string, string> => {
    if (acked) return {}
    acked = true
    clearTimeout(ackTimer)
    return {'rw-call': call, 'rw-hub': host.link.hubId}
  }

  const ackTimer = setTimeout(() => publish(host, caller, 'ack', {call, hub: host.link.hubId}, ack()), meta.body === 'stream' ? 0 : ACK_DELAY_MS)
  const stop = (error: RestwireError): void => {
    body?.fail(error)
    controller.abort(error)
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
      reply = await request(event, {signal: controller.signal, timeoutMs: meta.timeoutMs})
      if (done) return
      const start = JSON.stringify({code: reply.code, contentType: reply.contentType})
      whole = reply instanceof Reply ? reply.wholeBody() : undefined
      await sendBody(whole ?? reply.body, credit, dataSink(host, caller, () => done, () => ({'rw-reply': start, ...ack()})))
    } catch (error) {
      const failure = error instanceof RestwireError ? error : undefined
      const status = typeof failure?.details?.status === 'number' ? failure.details.status : 502
      if (!done) publish(host, caller, 'error', {code: failure?.code ?? 'RW_ERR_CLOSED', message: (error as Error).message, status})
    } finally {
      // Stopped before the end (the caller went away, or stopped granting credit): destroying the
      // local body resets the node's stream.
      if (reply && !whole && (done || !reply.body.readableEnded)) reply.body.destroy()
      finish()
    }
  })()
}
