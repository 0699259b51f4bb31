// The tunnel gateway's side of a cluster (cluster-registry.ts does the work). A tunnel call crosses
// gateways as one forwarded event: verb = the request type (GET... or STREAM), noun = the router,
// {data, params, stallMs} as JSON in args[0] (or in the body when large). A request's reply is the
// node's status (code) and its JSON answer (body). A STREAM's reply starts once the node answered
// first: code 200 and one JSON line per item, `{"v": item}`, or `{"e": {...}}` when it breaks mid-way;
// another code is the node's refusal, with its JSON answer. The body crosses under forward.ts's credit
// flow control, so a slow HTTP client holds the node's stream back as on one gateway; a caller that
// cancels resets the forwarded event, and the holding gateway cancels the node's stream.
import {Readable} from 'node:stream'
import {PeerGoneError, RestwireError, StatusError} from '../errors.js'
import {stringifyJson} from '../json.js'
import type {PipeEvent, PipeReply} from '../pipe/session.js'
import type {TunnelStream} from '../tunnel/gateway-session.js'
import {remoteError} from '../tunnel/gateway-session.js'
import type {TunnelPeer, TunnelPeerRegistry} from '../tunnel/gateway.js'
import type {TunnelResponseMessage} from '../tunnel/messages.js'
import {type ClusterAdapter, type ClusterRegistry, type JoinOptions, type JoinedCluster, type RemoteCall, joinCluster} from './cluster-registry.js'
import {errorFrom} from './forward.js'
import type {LocalRequest} from './forward.js'

/** Call arguments up to this size ride in the open message; larger ones go as a body (chunked). */
const INLINE_ARGS_BYTES = 64 * 1024
/** The largest answer read back (the tunnel's own message limit is 16 MiB). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024

export interface TunnelCluster extends Omit<JoinedCluster<TunnelPeer>, 'registry'> {
  /** For startTunnelGateway's `registry` option. */
  registry: (local: Parameters<JoinedCluster<TunnelPeer>['registry']>[0]) => TunnelPeerRegistry & Pick<ClusterRegistry<TunnelPeer>, 'cluster'>
}

interface CallArgs {
  data: unknown
  params: Record<string, unknown> | null
  stallMs?: number
}

type StreamLine = {v: unknown} | {e: {code: string; message: string; status?: number; body?: unknown}}

function callEvent(verb: string, router: string | null, args: CallArgs): PipeEvent {
  const json = stringifyJson(args, `the ${verb} request's data`)
  return Buffer.byteLength(json) <= INLINE_ARGS_BYTES
    ? {args: [json], noun: router ?? '', verb}
    : {args: [], body: Buffer.from(json), contentType: 'application/json', noun: router ?? '', verb}
}

async function readArgs(event: PipeEvent): Promise<CallArgs> {
  if (event.args[0] !== undefined) return JSON.parse(event.args[0]) as CallArgs
  const chunks: Buffer[] = []
  for await (const chunk of event.body as AsyncIterable<Buffer>) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as CallArgs
}

function jsonReply(code: number, value: unknown): PipeReply {
  const bytes = Buffer.from(stringifyJson(value ?? null))
  return {body: Readable.from([bytes]), code, contentType: 'application/json', read: () => Promise.resolve(bytes)}
}

/** The holding gateway: one forwarded call to its local node. */
function serveTunnel(session: TunnelPeer['session']): LocalRequest {
  return async (event, options) => {
    const args = await readArgs(event)
    if (event.verb !== 'STREAM') {
      const answer = await session.request(event.verb as Parameters<typeof session.request>[0], event.noun || null, args.data, args.params, options.timeoutMs)
      return jsonReply(answer.ssh_response_code, answer.response)
    }

    const stream = session.stream(event.noun, args.params, options.timeoutMs, args.stallMs)
    options.signal?.addEventListener('abort', () => void stream.cancel(), {once: true})
    const iterator = stream[Symbol.asyncIterator]()
    let first: IteratorResult<unknown>
    try {
      first = await iterator.next()
    } catch (error) {
      // The node refused the stream: its status and answer travel as the reply.
      if (error instanceof StatusError) return jsonReply(error.status, error.body)
      throw error
    }

    async function* lines(): AsyncGenerator<Buffer> {
      let next = first
      try {
        while (!next.done) {
          yield Buffer.from(`${stringifyJson({v: next.value} satisfies StreamLine)}\n`)
          next = await iterator.next()
        }
      } catch (error) {
        const failure = error instanceof RestwireError ? error : new PeerGoneError(String((error as Error)?.message ?? error))
        const e = {body: failure instanceof StatusError ? failure.body : undefined, code: failure.code, message: failure.message, status: failure.status}
        yield Buffer.from(`${JSON.stringify({e} satisfies StreamLine)}\n`)
      } finally {
        // Also when the caller went away mid-stream (the reply body is destroyed): the node stops.
        if (!next.done) void stream.cancel()
      }
    }

    const body = Readable.from(lines(), {objectMode: false})
    return {body, code: 200, contentType: 'application/x-ndjson', read: () => Promise.reject(new RangeError('a STREAM reply is read line by line'))}
  }
}

/** The gateway receiving the call: a node on another gateway. */
function remoteSession(call: RemoteCall): TunnelPeer['session'] {
  return {
    get inFlight() {
      return call.inFlight
    },
    async request(type, router, data, params, timeoutMs): Promise<TunnelResponseMessage> {
      const reply = await call.request(callEvent(type, router, {data, params}), {timeoutMs})
      const response = JSON.parse((await reply.read(MAX_ANSWER_BYTES)).toString('utf8')) as unknown
      return {id: 0, request_id: 0, response, ssh_response_code: reply.code}
    },
    stream(router, params, timeoutMs, stallMs): TunnelStream {
      return remoteStream(call, router, params, timeoutMs, stallMs)
    },
  }
}

function remoteStream(call: RemoteCall, router: string, params: Record<string, unknown> | null, timeoutMs: number, stallMs: number | undefined): TunnelStream {
  const controller = new AbortController()
  let event: PipeEvent
  let started: Promise<PipeReply>
  try {
    event = callEvent('STREAM', router, {data: null, params, stallMs})
    started = call.request(event, {signal: controller.signal, timeoutMs})
  } catch (error) {
    started = Promise.reject(error)
  }

  // Not awaited before the first next(): a rejection must not go unhandled meanwhile.
  started.catch(() => {})
  let cancelled = false
  const cancel = (): Promise<void> => {
    cancelled = true
    controller.abort()
    return Promise.resolve()
  }

  async function* items(): AsyncGenerator<unknown> {
    const reply = await started
    if (reply.code !== 200) {
      const answer = JSON.parse((await reply.read(MAX_ANSWER_BYTES)).toString('utf8')) as unknown
      throw remoteError(`STREAM ${router}`, reply.code, answer)
    }

    let rest = ''
    try {
      for await (const chunk of reply.body as AsyncIterable<Buffer>) {
        const text = rest + chunk.toString('utf8')
        const parts = text.split('\n')
        rest = parts.pop()!
        for (const part of parts) {
          const line = JSON.parse(part) as StreamLine
          if ('v' in line) yield line.v
          else if (line.e.code.startsWith('RW_ERR_REMOTE_') && line.e.status !== undefined) throw new StatusError(line.e.status, line.e.message, {body: line.e.body})
          else throw errorFrom(line.e)
        }
      }
    } catch (error) {
      // Cancelled by the reader: the stream just ends, as on one gateway.
      if (cancelled) return
      throw error
    }
  }

  const generator = items()
  const iterator: AsyncIterator<unknown> = {
    next: async () => (cancelled ? {done: true, value: undefined} : generator.next()),
    return: async () => {
      await cancel()
      return {done: true, value: undefined}
    },
  }
  return {[Symbol.asyncIterator]: () => iterator, cancel}
}

const tunnelAdapter: ClusterAdapter<TunnelPeer> = {
  address: (peer) => peer.address,
  fingerprint: (peer) => peer.fingerprint,
  since: (peer) => peer.connectedSince.getTime(),
  remote: (entry, call) => ({
    address: entry.address,
    close() {},
    closed: new Promise(() => {}),
    connectedSince: new Date(entry.at),
    destroy() {},
    fingerprint: entry.fingerprint ?? '',
    gateway: entry.hubName,
    id: entry.node,
    session: remoteSession(call),
  }),
  serve: (peer) => serveTunnel(peer.session),
}

/** Joins the cluster's NATS (RW_ERR_CLUSTER if no server accepts this gateway). */
export function joinTunnelCluster(options: JoinOptions): Promise<TunnelCluster> {
  return joinCluster({...options, service: 'tunnel'}, tunnelAdapter)
}
