// One pipe event (or a tunnel call carried as one, tunnel-cluster.ts) from the hub that received it
// (the caller) to the hub that holds the node (the holder), and its reply back, over NATS. The caller subscribes a call inbox and publishes the open on
// the node's subject with that inbox as reply subject: if no hub holds the node, the NATS server itself
// answers there with status 503 (no responders). The holder acknowledges with its own call inbox and id,
// and from then on each side publishes to the other's inbox. A small call is three messages: open, ack,
// and one data message carrying the reply's start, its whole body and the end.
//
// Messages (header rw-t; JSON payloads except data):
//   open    caller → node subject  {hub, verb, noun, args, contentType, timeoutMs, hasBody}; reply = caller inbox
//   ack     holder → caller        {call, hub}: where to send the request body, credit and cancel; whom to watch
//   data    both ways              body chunks (body-flow.ts); the holder's first one carries
//                                  rw-reply = {code, contentType}: the reply starts
//   credit  both ways              body-flow.ts
//   error   holder → caller        {code, status, message}: the event failed (as RestwireError)
//   cancel  caller → holder        the HTTP client went away or the reply body was abandoned
import {Readable} from 'node:stream'
import {type Msg, type MsgHdrs, type Subscription, createInbox, headers as natsHeaders} from '@nats-io/transport-node'
import {ERROR_CATALOGUE, PeerGoneError, RestwireError, errorForCode} from '../errors.js'
import {BodyInbox, type ChunkSink, Credit, sendBody} from './body-flow.js'
import type {PipeEvent, PipeReply, SendOptions} from '../pipe/session.js'
import {DEFAULT_MAX_READ_BYTES} from '../pipe/event-types.js'
import type {NatsLink} from './nats-link.js'
import type {ClusterSubjects} from './subjects.js'

/**
 * Bound on the holder's ack of an open: it acks at once unless NATS or the hub is stuck. A dead hub is
 * found sooner by hub-watch's pings; 5 s proved too short for a live hub on a loaded 2-core machine.
 */
const OPEN_TIMEOUT_MS = 15_000

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

/** A ChunkSink publishing data messages to `subject`; `first` adds headers to the first one only. */
function dataSink(host: ForwardHost, subject: string, over: () => boolean, first?: Record<string, string>): ChunkSink {
  return (seq, payload, end) => {
    if (over() || host.link.nc.isClosed()) return false
    const extra: Record<string, string> = {'rw-seq': String(seq), ...(end ? {'rw-end': '1'} : {}), ...(seq === 0 ? first : {})}
    host.link.nc.publish(subject, payload, {headers: message('data', extra)})
    return true
  }
}

/** The error another hub reported; a code this catalogue does not know (or a status code) is a peer gone. */
export function errorFrom(value: {code?: string; status?: number; message?: string}): RestwireError {
  const known = value.code !== undefined && Object.hasOwn(ERROR_CATALOGUE, value.code) && !value.code.startsWith('RW_ERR_REMOTE_')
  const code = (known ? value.code : 'RW_ERR_CLOSED') as Parameters<typeof errorForCode>[0]
  return errorForCode(code, value.message ?? 'the other hub failed the event', {status: value.status ?? 502})
}

function pushData(body: BodyInbox | undefined, msg: Msg): void {
  body?.push(Number(msg.headers!.get('rw-seq')), msg.data, msg.headers!.get('rw-end') === '1')
}

/** Sends `event` to `node` on whichever hub holds it; resolves when the reply starts. NotConnectedAnywhere if none does. */
export function forwardEvent(host: ForwardHost, node: string, event: PipeEvent, options: SendOptions): Promise<PipeReply> {
  if (host.link.state !== 'connected') {
    return Promise.reject(new PeerGoneError(`node "${node}" is not on this hub, and the cluster is degraded (NATS unreachable)`, {status: 503}))
  }

  return new CallerSide(host, node, event, options).reply
}

class CallerSide {
  readonly reply: Promise<PipeReply>
  private readonly inbox = createInbox()
  private readonly subscription: Subscription
  private readonly credit = new Credit()
  private readonly body: BodyInbox
  private settle!: {resolve: (reply: PipeReply) => void; reject: (error: Error) => void}
  private call: string | undefined
  private done = false
  private unwatch: () => void = () => {}
  private readonly openTimer: NodeJS.Timeout
  private readonly onAbort = (): void => this.fail(new PeerGoneError('the caller went away', {status: 499}), true)

  constructor(private readonly host: ForwardHost, private readonly node: string, private readonly event: PipeEvent, private readonly options: SendOptions) {
    this.reply = new Promise((resolve, reject) => (this.settle = {reject, resolve}))
    this.body = new BodyInbox(
      (n) => this.call && publish(host, this.call, 'credit', undefined, {'rw-n': String(n)}),
      () => this.fail(new PeerGoneError('the reply body was abandoned', {status: 499}), true),
    )
    const {nc} = host.link
    this.subscription = nc.subscribe(this.inbox)
    void this.receive()
    const meta: OpenMeta = {args: event.args, contentType: event.contentType, hasBody: event.body !== undefined, hub: host.link.hubId, noun: event.noun, timeoutMs: options.timeoutMs, verb: event.verb}
    nc.publish(host.subjects.node(node), JSON.stringify(meta), {headers: message('open'), reply: this.inbox})
    this.openTimer = setTimeout(() => this.fail(new PeerGoneError(`node "${node}": the hub holding it did not answer within ${OPEN_TIMEOUT_MS} ms`, {status: 503}), true), OPEN_TIMEOUT_MS)
    options.signal?.addEventListener('abort', this.onAbort, {once: true})
    if (options.signal?.aborted) this.onAbort()
  }

  private async receive(): Promise<void> {
    for await (const msg of this.subscription) {
      // The server's own answer to the open: no subscriber on the node's subject.
      if (msg.headers?.code === 503) {
        this.settle.reject(new NotConnectedAnywhere(this.node))
        this.finish()
        continue
      }

      const type = msg.headers?.get('rw-t')
      if (type === 'ack') this.acked(msg.json())
      else if (type === 'data') {
        const reply = msg.headers!.get('rw-reply')
        if (reply) this.started(JSON.parse(reply) as {code: number; contentType: string})
        pushData(this.body, msg)
        if (msg.headers!.get('rw-end') === '1') this.finish()
      } else if (type === 'credit') this.credit.grant(Number(msg.headers!.get('rw-n')))
      else if (type === 'error') this.fail(errorFrom(msg.json()), false)
    }
  }

  private acked({call, hub}: {call: string; hub: string}): void {
    clearTimeout(this.openTimer)
    if (this.done) return void publish(this.host, call, 'cancel')
    this.call = call
    this.unwatch = this.host.watch(hub, (error) => this.fail(error, false))
    if (this.event.body === undefined) return
    sendBody(this.event.body, this.credit, dataSink(this.host, call, () => this.done)).catch((error: unknown) =>
      this.fail(new PeerGoneError(`the body source failed: ${(error as Error).message}`, {status: 502}), true),
    )
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
    if (tellHolder && this.call) publish(this.host, this.call, 'cancel')
    this.settle.reject(error)
    this.body.fail(error)
    this.finish()
  }

  private finish(): void {
    if (this.done) return
    this.done = true
    clearTimeout(this.openTimer)
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

  const caller = msg.reply
  if (!caller) return
  if (!request) return publish(host, caller, 'error', {code: 'RW_ERR_CLOSED', message: 'the node just left the hub holding it', status: 503})

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

  const body = meta.hasBody ? new BodyInbox((n) => publish(host, caller, 'credit', undefined, {'rw-n': String(n)})) : undefined
  const unwatch = host.watch(meta.hub, (error) => {
    body?.fail(error)
    controller.abort(error)
    finish()
  })
  void (async () => {
    for await (const m of subscription) {
      const type = m.headers?.get('rw-t')
      if (type === 'data') pushData(body, m)
      else if (type === 'credit') credit.grant(Number(m.headers!.get('rw-n')))
      else if (type === 'cancel') {
        body?.fail(new PeerGoneError('the caller went away', {status: 499}))
        controller.abort()
        finish()
      }
    }
  })()
  publish(host, caller, 'ack', {call, hub: host.link.hubId})

  void (async () => {
    try {
      const reply = await request({args: meta.args, body, contentType: meta.contentType, noun: meta.noun, verb: meta.verb}, {signal: controller.signal, timeoutMs: meta.timeoutMs})
      if (done) return void reply.body.destroy()
      await sendBody(reply.body, credit, dataSink(host, caller, () => done, {'rw-reply': JSON.stringify({code: reply.code, contentType: reply.contentType})}))
      // Stopped before the end (the caller went away): the local stream is reset by destroying its body.
      if (done) reply.body.destroy()
    } catch (error) {
      const failure = error instanceof RestwireError ? error : undefined
      const status = typeof failure?.details?.status === 'number' ? failure.details.status : 502
      if (!done) publish(host, caller, 'error', {code: failure?.code ?? 'RW_ERR_CLOSED', message: (error as Error).message, status})
    } finally {
      finish()
    }
  })()
}
