// One stream (one event) of a pipe session: its state, the event as a handler sees it, the reply as
// the caller sees it, and the parsing of an INLINE frame.
import type {Readable} from 'node:stream'
import type {RestwireError} from '../errors.js'
import type {BodySource, SendWindow} from './body-stream.js'
import {FLAG_INLINE, type Frame} from './frames.js'
import {type BodyTap, IncomingBody} from './incoming-body.js'
import type {EventMeta, ReplyMeta} from './messages.js'
import {DEFAULT_MAX_READ_BYTES, type IncomingPipeEvent, type PipeReply} from './event-types.js'

const EMPTY = Buffer.alloc(0)

/** Where an incoming event's body is made when a whole one (Stream.whole) is asked for as a stream. */
export interface EventBodies {
  bodyOf(stream: Stream): IncomingBody
}

/** An event as a handler sees it; a class, so that the lazy `body` and `signal` stay cheap. */
export class IncomingEvent implements IncomingPipeEvent {
  readonly verb: string
  readonly noun: string
  readonly args: string[]
  readonly contentType: string | undefined

  constructor(
    meta: EventMeta,
    private readonly stream: Stream,
    readonly peer: string,
    private readonly bodies: EventBodies,
  ) {
    this.verb = meta.verb
    this.noun = meta.noun
    this.args = meta.args
    this.contentType = meta.contentType
  }

  get body(): Readable {
    return this.bodies.bodyOf(this.stream).stream()
  }

  get signal(): AbortSignal {
    const {stream} = this
    if (!stream.abort) {
      stream.abort = new AbortController()
      if (stream.aborted) stream.abort.abort(stream.aborted)
    }

    return stream.abort.signal
  }

  read(maxBytes = DEFAULT_MAX_READ_BYTES): Promise<Buffer> {
    const {stream} = this
    const {whole} = stream
    // A body that came whole (most events): its bytes, with no IncomingBody; read again, it is empty,
    // as a consumed body is.
    if (whole !== undefined && whole.length <= maxBytes) {
      stream.whole = EMPTY
      return Promise.resolve(whole)
    }

    return this.bodies.bodyOf(stream).read(maxBytes)
  }

  /** Tells `tap` of the event body's chunks as they arrive (the inspector's record), before the handler reads any. */
  tapBody(tap: BodyTap): void {
    this.bodies.bodyOf(this.stream).tapWith(tap)
  }

  // text() and json() make this a handler context as it is (createPipeHandler needs no wrapper per event).
  async text(maxBytes?: number): Promise<string> {
    return (await this.read(maxBytes)).toString('utf8')
  }

  async json(maxBytes?: number): Promise<unknown> {
    const text = await this.text(maxBytes)
    return text.trim() === '' ? null : (JSON.parse(text) as unknown)
  }
}


/** A reply as the caller sees it: a streamed body, or (INLINE, most replies) the whole body at once. */
export class Reply implements PipeReply {
  readonly code: number
  readonly contentType: string
  private incoming: IncomingBody | undefined
  private whole: Buffer

  constructor(meta: ReplyMeta, body: IncomingBody | Buffer) {
    this.code = meta.code
    this.contentType = meta.contentType
    if (Buffer.isBuffer(body)) this.whole = body
    else {
      this.incoming = body
      this.whole = EMPTY
    }
  }

  get body(): Readable {
    return this.holder().stream()
  }

  read(maxBytes = DEFAULT_MAX_READ_BYTES): Promise<Buffer> {
    if (this.incoming || this.whole.length > maxBytes) return this.holder().read(maxBytes)
    // A whole body needs no IncomingBody at all; read again, it is empty, as a consumed body is.
    const body = this.whole
    this.whole = EMPTY
    return Promise.resolve(body)
  }

  /** Tells `tap` of the reply body's chunks as they arrive (the inspector's record), before the caller reads any. */
  tapBody(tap: BodyTap): void {
    if (this.incoming) this.incoming.tapWith(tap)
    else if (this.whole.length > 0) tap.add(this.whole)
  }

  /** The body when it came whole in one frame and nothing read it yet (a cluster hub forwards it as is, with no stream). */
  wholeBody(): Buffer | undefined {
    return this.incoming ? undefined : this.whole
  }

  private holder(): IncomingBody {
    this.incoming ??= IncomingBody.whole(this.whole)
    return this.incoming
  }
}

/**
 * One stream's state. A class with every field set up front (one hidden class for all streams); the
 * send window is made only when a body is sent in DATA frames: most events and replies go INLINE.
 */
export class Stream {
  /** Credit for our body on this stream (PipeStreams.windowOf makes it on first use). */
  window: SendWindow | undefined = undefined
  /** In its connection's stream table (a stream id is only reused once its stream has left it). */
  open = false
  /** Our side sends no more on this stream (reply ended, reset, connection gone). */
  stopped = false
  /** The body coming from the peer (reply body for outgoing events, event body for incoming ones). */
  body: IncomingBody | undefined = undefined
  /**
   * Incoming: an event body that came whole with its EVENT (END set; INLINE or empty), held as its bytes
   * until read (no IncomingBody unless someone asks for a stream); undefined once an IncomingBody holds it.
   */
  whole: Buffer | undefined = undefined
  /** The whole body's size, counted against the read throttle until the stream is forgotten. */
  wholeBytes = 0
  /** Outgoing, until the reply starts (or the event fails): the caller's promise. */
  resolve: ((reply: PipeReply) => void) | undefined = undefined
  reject: ((error: RestwireError) => void) | undefined = undefined
  /** Outgoing: when the reply is late (clock time), and the timeout it was counted with (ReplyDeadlines). */
  deadline = 0
  timeoutMs = 0
  slot = -1
  /** Created on first use of the handler's signal: most handlers never look. */
  abort: AbortController | undefined = undefined
  /** Why the stream ended early, for a signal asked for afterwards. */
  aborted: RestwireError | undefined = undefined
  /** Runs once when the stream is gone (unhooks the caller's abort signal). */
  cleanup: (() => void) | undefined = undefined

  constructor(
    readonly id: number,
    readonly outgoing: boolean,
  ) {}

  /** Nothing more is sent on this stream; a pump waiting for credit wakes and stops. */
  stop(): void {
    this.stopped = true
    this.window?.stop()
  }
}

/**
 * Where the metadata of an EVENT or REPLY frame ends: the whole payload, or for INLINE the u16 length
 * after its prefix (the body follows). -1 when an INLINE length runs past the frame.
 */
export function metaEnd(frame: Frame): number {
  if (!(frame.flags & FLAG_INLINE)) return frame.payload.length
  const {payload} = frame
  const end = 2 + ((payload[0]! << 8) | payload[1]!)
  return end > frame.payload.length ? -1 : end
}

export function isEmptyBody(body: BodySource | undefined): boolean {
  if (body === undefined) return true
  if (typeof body === 'string' || body instanceof Uint8Array) return body.length === 0
  return false
}

/** A ring starts this small (an idle connection holds none) and doubles up to RING_MAX_SLOTS. */
const RING_START_SLOTS = 64
const RING_MAX_SLOTS = 1024

/** The streams of one id parity (one side's ids), by the id's low bits. */
class StreamRing {
  slots: Array<Stream | undefined> = new Array<Stream | undefined>(RING_START_SLOTS).fill(undefined)
  mask = RING_START_SLOTS - 1
  count = 0

  /** Twice the slots; its streams keep distinct slots (their low bits already differed). */
  grow(): void {
    const old = this.slots
    const size = old.length * 2
    this.slots = new Array<Stream | undefined>(size).fill(undefined)
    this.mask = size - 1
    for (const stream of old) if (stream !== undefined) this.slots[(stream.id >>> 1) & this.mask] = stream
  }
}

/**
 * A connection's open streams by id. Each side allocates the ids of one parity counting up by two, so
 * each parity has a ring indexed by the id's low bits: no hashing, no rehash, no table growth per
 * event. A slot still held by a live stream when an id comes round to it again doubles that ring (up to
 * RING_MAX_SLOTS), then sends the newcomer to a Map. Lookups compare the id, so two streams of one slot
 * are never confused. A peer choosing colliding ids only sends its own streams to the Map (our ids have
 * the other parity, hence the other ring), and the peer's open streams are bounded by maxInFlight.
 */
export class StreamTable {
  private readonly rings: [StreamRing | undefined, StreamRing | undefined] = [undefined, undefined]
  private readonly others = new Map<number, Stream>()

  get size(): number {
    return (this.rings[0]?.count ?? 0) + (this.rings[1]?.count ?? 0) + this.others.size
  }

  get(id: number): Stream | undefined {
    const ring = this.rings[id & 1]
    if (ring !== undefined) {
      const stream = ring.slots[(id >>> 1) & ring.mask]
      if (stream !== undefined && stream.id === id) return stream
    }

    return this.others.size === 0 ? undefined : this.others.get(id)
  }

  has(id: number): boolean {
    return this.get(id) !== undefined
  }

  /** Adds a stream whose id is not in the table. */
  add(stream: Stream): void {
    const {id} = stream
    const parity = id & 1
    const ring = this.rings[parity] ?? (this.rings[parity] = new StreamRing())
    if (ring.slots[(id >>> 1) & ring.mask] !== undefined && ring.slots.length < RING_MAX_SLOTS) ring.grow()
    const slot = (id >>> 1) & ring.mask
    if (ring.slots[slot] === undefined) {
      ring.slots[slot] = stream
      ring.count++
    } else this.others.set(id, stream)
  }

  delete(stream: Stream): void {
    const {id} = stream
    const ring = this.rings[id & 1]
    if (ring !== undefined) {
      const slot = (id >>> 1) & ring.mask
      if (ring.slots[slot] === stream) {
        ring.slots[slot] = undefined
        ring.count--
        return
      }
    }

    this.others.delete(id)
  }

  values(): Stream[] {
    const all: Stream[] = []
    for (const ring of this.rings) if (ring) for (const stream of ring.slots) if (stream !== undefined) all.push(stream)
    for (const stream of this.others.values()) all.push(stream)
    return all
  }

  clear(): void {
    this.rings[0] = undefined
    this.rings[1] = undefined
    this.others.clear()
  }
}
