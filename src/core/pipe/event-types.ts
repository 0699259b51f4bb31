// The shapes a pipe session deals in: events and replies both ways, handlers, options.
import type {Duplex, Readable} from 'node:stream'
import type {RestwireError} from '../errors.js'
import type {BodySource} from './body-stream.js'
import type {EventMeta} from './messages.js'

/** What read() of an event or reply body takes at most unless told. */
export const DEFAULT_MAX_READ_BYTES = 16 * 1024 * 1024

export interface PipeEvent extends EventMeta {
  body?: BodySource
}

export interface PipeReply {
  code: number
  contentType: string
  /** The reply body as it arrives; errors if the connection drops before it ends. Made on first use. */
  readonly body: Readable
  /** The whole reply body, refusing more than maxBytes (default 16 MiB); cheaper than reading `body`. */
  read(maxBytes?: number): Promise<Buffer>
}

export interface IncomingPipeEvent extends EventMeta {
  /** The event body as it arrives (flow-controlled: unread bytes hold up only this event). Made on first use. */
  readonly body: Readable
  /** The whole event body, refusing more than maxBytes (default 16 MiB). */
  read(maxBytes?: number): Promise<Buffer>
  /** Aborted when the caller gives up (timeout, disconnect) or the connection drops. */
  signal: AbortSignal
  /** The peer's name (a node's certificate name, or the hub's). */
  peer: string
}

export interface ReplySpec {
  code: number
  contentType: string
  body?: BodySource
}

export type EventHandler = (event: IncomingPipeEvent) => Promise<ReplySpec> | ReplySpec

export interface PipeSessionOptions {
  socket: Duplex
  /** Hub streams are odd, node streams even, so the two sides never pick the same id. */
  role: 'hub' | 'node'
  peer: string
  handler: EventHandler
  heartbeatMs?: number
  /** Silence longer than this drops the connection. Default 3 heartbeats. */
  heartbeatTimeoutMs?: number
  windowBytes?: number
  maxInFlight?: number
  /** Body bytes the peer may have sent and this side not yet consumed, over all streams; then reading pauses. */
  maxBufferedBytes?: number
  /** The peer's HELLO arrived (the connection is fully set up). */
  onHello?: () => void
  onClose?: (reason: string, error?: RestwireError) => void
}

/** What a request's `signal` must offer (an AbortSignal does): the pipe and the cluster only listen for 'abort'. */
export interface CallSignal {
  readonly aborted: boolean
  addEventListener(type: 'abort', listener: () => void, options?: {once?: boolean}): void
  removeEventListener(type: 'abort', listener: () => void): void
}

export interface SendOptions {
  /** Bound on the time until the reply starts (counted from the last event body bytes sent); then RW_ERR_TIMEOUT (504) and the event is reset. */
  timeoutMs: number
  /** An AbortSignal, or any CallSignal: aborting resets the event. */
  signal?: CallSignal
}
