// One pipe event from the hub that received it (the caller) to the hub that holds the node (the
// holder), and its reply back, over NATS. The caller sends an open request on the node's subject (no
// responders: the node is connected nowhere); the holder answers with its own call inbox, and from
// then on each side publishes to the other's inbox: bodies both ways in chunks under credit
// (body-flow.ts), the reply's start, its end, or an error carrying the status the holder saw.
//
// Messages (header rw-t; JSON payloads except data):
//   open    caller → node subject  {hub, inbox, verb, noun, args, contentType, timeoutMs, hasBody}
//           holder → reply         {call, hub} (or an error)
//   reply   holder → caller        {code, contentType}: the reply starts; its body follows as data/end
//   error   holder → caller        {code, status, message}: the event failed (as RestwireError)
//   cancel  caller → holder        the HTTP client went away or the reply body was abandoned
//   data / end / credit           bodies, both ways (body-flow.ts)
import {Readable} from 'node:stream'
import {type Msg, type MsgHdrs, type Subscription, createInbox, headers as natsHeaders} from '@nats-io/transport-node'
import {type ErrorCode, RestwireError} from '../errors.js'
import {BodyInbox, Credit, sendBody} from './body-flow.js'
import type {PipeEvent, PipeReply, SendOptions} from '../pipe/session.js'
import {DEFAULT_MAX_READ_BYTES} from '../pipe/event-types.js'
import type {NatsLink} from './nats-link.js'
import type {ClusterSubjects} from './subjects.js'

/** Bound on the holder's answer to an open (it answers at once unless NATS or the hub is stuck). */
const OPEN_TIMEOUT_MS = 5000

/** The node has no subscriber anywhere: it is connected to no hub. */
export class NotConnectedAnywhere extends Error {}

export interface ForwardHost {
  link: NatsLink
  subjects: ClusterSubjects
  /** Fails `fail` with 503 when `hubId` dies or NATS is lost; returns the unwatch. */
  watch(hubId: string, fail: (error: RestwireError) => void): () => void
}

interface OpenMeta {
  hub: string
  inbox: string
  verb: string
  noun: string
  args: string[]
  contentType?: string
  timeoutMs: number
  hasBody: boolean
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

function errorFrom(value: {code?: string; status?: number; message?: string}): RestwireError {
  const code = (value.code ?? 'RW_ERR_CLOSED') as ErrorCode
  return new RestwireError(code, value.message ?? 'the other hub failed the event', {details: {status: value.status ?? 502}})
}

/** Sends `event` to `node` on whichever hub holds it; resolves when the reply starts. */
export async function forwardEvent(host: ForwardHost, node: string, event: PipeEvent, options: SendOptions): Promise<PipeReply> {
  const {nc} = host.link
  if (host.link.state !== 'connected') throw new RestwireError('RW_ERR_CLOSED', `node "${node}" is not on this hub, and the cluster is degraded (NATS unreachable)`, {details: {status: 503}})
  const inbox = createInbox()
  const subscription = nc.subscribe(inbox)
  const meta: OpenMeta = {args: event.args, contentType: event.contentType, hasBody: event.body !== undefined, hub: host.link.hubId, inbox, noun: event.noun, timeoutMs: options.timeoutMs, verb: event.verb}
  let opened: Msg
  try {
    opened = await nc.request(host.subjects.node(node), JSON.stringify(meta), {headers: message('open'), timeout: OPEN_TIMEOUT_MS})
  } catch (error) {
    subscription.unsubscribe()
    if ((error as {isNoResponders?: () => boolean}).isNoResponders?.()) throw new NotConnectedAnywhere(node)
    throw new RestwireError('RW_ERR_CLOSED', `node "${node}": the hub holding it did not answer (${(error as Error).message})`, {cause: error, details: {status: 503}})
  }

  if (opened.headers?.get('rw-t') === 'error') {
    subscription.unsubscribe()
    throw errorFrom(opened.json())
  }

  const {call, hub} = opened.json<{call: string; hub: string}>()
  return new CallerSide(host, subscription, call, hub, event, options).reply
}

class CallerSide {
  readonly reply: Promise<PipeReply>
  private readonly credit = new Credit()
  private readonly body: BodyInbox
  private settle!: {resolve: (reply: PipeReply) => void; reject: (error: Error) => void}
  private done = false
  private readonly unwatch: () => void
  private readonly onAbort = (): void => this.fail(new RestwireError('RW_ERR_CLOSED', 'the caller went away', {details: {status: 499}}), true)

  constructor(private readonly host: ForwardHost, private readonly subscription: Subscription, private readonly call: string, hub: string, event: PipeEvent, private readonly options: SendOptions) {
    this.reply = new Promise((resolve, reject) => (this.settle = {reject, resolve}))
    this.body = new BodyInbox(
      (n) => publish(host, call, 'credit', undefined, {'rw-n': String(n)}),
      () => this.fail(new RestwireError('RW_ERR_CLOSED', 'the reply body was abandoned', {details: {status: 499}}), true),
    )
    this.unwatch = host.watch(hub, (error) => this.fail(error, false))
    options.signal?.addEventListener('abort', this.onAbort, {once: true})
    if (options.signal?.aborted) this.onAbort()
    void this.receive()
    if (event.body !== undefined) {
      sendBody(event.body, this.credit, (kind, seq, payload) => {
        if (this.done) return false
        host.link.nc.publish(call, payload, {headers: message(kind, {'rw-seq': String(seq)})})
        return true
      }).catch((error: unknown) => this.fail(new RestwireError('RW_ERR_CLOSED', `the body source failed: ${(error as Error).message}`, {details: {status: 502}}), true))
    }
  }

  private async receive(): Promise<void> {
    for await (const msg of this.subscription) {
      const type = msg.headers?.get('rw-t')
      if (type === 'data') this.body.push(Number(msg.headers!.get('rw-seq')), msg.data)
      else if (type === 'credit') this.credit.grant(Number(msg.headers!.get('rw-n')))
      else if (type === 'reply') this.started(msg.json())
      else if (type === 'end') {
        this.body.end()
        this.finish()
      } else if (type === 'error') this.fail(errorFrom(msg.json()), false)
    }
  }

  private started({code, contentType}: {code: number; contentType: string}): void {
    let readable: Readable | undefined
    const {body} = this
    this.settle.resolve({
      get body() {
        return (readable ??= Readable.from(body, {objectMode: false}))
      },
      code,
      contentType,
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
    if (tellHolder) publish(this.host, this.call, 'cancel')
    this.settle.reject(error)
    this.body.fail(error)
    this.finish()
  }

  private finish(): void {
    if (this.done) return
    this.done = true
    this.credit.stop()
    this.unwatch()
    this.options.signal?.removeEventListener('abort', this.onAbort)
    this.subscription.unsubscribe()
  }
}

/** What the holder calls to send an event to its local node. */
export type LocalRequest = (event: PipeEvent, options: SendOptions) => Promise<PipeReply>

/** The holder's side of one call opened by `msg` on a node's subject. */
export function serveCall(host: ForwardHost, msg: Msg, request: LocalRequest | undefined): void {
  let meta: OpenMeta
  try {
    meta = msg.json<OpenMeta>()
  } catch {
    return
  }

  if (!request) {
    msg.respond(JSON.stringify({code: 'RW_ERR_CLOSED', message: `node "${msg.subject}" just left this hub`, status: 503}), {headers: message('error')})
    return
  }

  const {nc} = host.link
  const call = createInbox()
  const subscription = nc.subscribe(call)
  const controller = new AbortController()
  const credit = new Credit()
  let done = false
  const finish = (): void => {
    if (done) return
    done = true
    credit.stop()
    unwatch()
    subscription.unsubscribe()
  }

  const body = meta.hasBody ? new BodyInbox((n) => publish(host, meta.inbox, 'credit', undefined, {'rw-n': String(n)})) : undefined
  const unwatch = host.watch(meta.hub, (error) => {
    body?.fail(error)
    controller.abort(error)
    finish()
  })
  void (async () => {
    for await (const m of subscription) {
      const type = m.headers?.get('rw-t')
      if (type === 'data') body?.push(Number(m.headers!.get('rw-seq')), m.data)
      else if (type === 'end') body?.end()
      else if (type === 'credit') credit.grant(Number(m.headers!.get('rw-n')))
      else if (type === 'cancel') {
        body?.fail(new RestwireError('RW_ERR_CLOSED', 'the caller went away', {details: {status: 499}}))
        controller.abort()
        finish()
      }
    }
  })()
  msg.respond(JSON.stringify({call, hub: host.link.hubId}), {headers: message('open')})

  void (async () => {
    try {
      const reply = await request({args: meta.args, body, contentType: meta.contentType, noun: meta.noun, verb: meta.verb}, {signal: controller.signal, timeoutMs: meta.timeoutMs})
      if (done) return void reply.body.destroy()
      publish(host, meta.inbox, 'reply', {code: reply.code, contentType: reply.contentType})
      await sendBody(reply.body, credit, (kind, seq, payload) => {
        if (done) return false
        nc.publish(meta.inbox, payload, {headers: message(kind, {'rw-seq': String(seq)})})
        return true
      })
      // Stopped before the end (the caller went away): the local stream is reset by destroying its body.
      if (done) reply.body.destroy()
    } catch (error) {
      const failure = error instanceof RestwireError ? error : undefined
      const status = typeof failure?.details?.status === 'number' ? failure.details.status : 502
      if (!done) publish(host, meta.inbox, 'error', {code: failure?.code ?? 'RW_ERR_CLOSED', message: (error as Error).message, status})
    } finally {
      finish()
    }
  })()
}
