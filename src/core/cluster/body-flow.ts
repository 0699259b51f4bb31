// Bodies between hubs over NATS: chunks of at most CHUNK_BYTES (NATS refuses messages over its
// max_payload, 1 MB by default) under credit flow control. The receiver grants credit in chunks as its
// consumer reads; the sender never has more than WINDOW_CHUNKS unacknowledged, so memory stays bounded
// by the window on both hubs, whatever the body's size.
//
// Messages (on the other side's call inbox, as wire.ts lays them out):
//   data    body bytes with seq = 0, 1, 2… (a gap means NATS dropped one: the call fails), and END on
//           the last (its payload may be empty)
//   credit  chunks the receiver consumed since its last credit
import {PeerGoneError, RestwireError} from '../errors.js'
import {Waiters} from '../link/waiters.js'
import type {BodySource} from '../pipe/body-stream.js'

export const CHUNK_BYTES = 256 * 1024
export const WINDOW_CHUNKS = 8
/** Credit goes back in steps of half a window: few credit messages, and the sender never starves. */
const GRANT_STEP = WINDOW_CHUNKS / 2
/**
 * A receiver that grants no credit for this long has stopped reading (or never will: a hostile or
 * stuck hub): the sender gives the call up rather than hold the node's stream forever.
 */
export const CREDIT_STALL_MS = 60_000

/** Sends one chunk (`end`: the last, possibly empty); false once the call is over (nothing more to send). */
export type ChunkSink = (seq: number, payload: Uint8Array | undefined, end: boolean) => boolean

/** The sender's credit: chunks it may still send before the receiver grants more. */
export class Credit {
  private available = WINDOW_CHUNKS
  private readonly waiters = new Waiters<boolean>()
  private stopped = false

  constructor(private readonly stallMs = CREDIT_STALL_MS) {}

  /** More credit; a grant that is no whole number of chunks, or past the window, is ignored or capped (a broken or hostile peer). */
  grant(chunks: number): void {
    if (!Number.isInteger(chunks) || chunks <= 0) return
    this.available = Math.min(WINDOW_CHUNKS, this.available + chunks)
    this.waiters.wake(true)
  }

  /** Releases a sender waiting for credit (the call ended). */
  stop(): void {
    this.stopped = true
    this.waiters.wake(false)
  }

  /** true when one chunk may go (taking it), false once stopped; throws after stallMs without credit. */
  async take(): Promise<boolean> {
    while (!this.stopped && this.available <= 0) {
      if ((await this.waiters.wait(this.stallMs)) === undefined) {
        throw new PeerGoneError(`the other hub granted no credit for ${this.stallMs} ms: it stopped reading`, {status: 504})
      }
    }

    if (this.stopped) return false
    this.available -= 1
    return true
  }
}

/**
 * Pumps `source` out in chunks under `credit`. One chunk is held back until the next arrives, so the
 * last one carries the end: a small body is one message. Throws if the source fails.
 */
export async function sendBody(source: BodySource, credit: Credit, sink: ChunkSink): Promise<void> {
  let seq = 0
  let held: Uint8Array | undefined
  const iterable: AsyncIterable<Buffer | Uint8Array | string> | Array<Buffer | Uint8Array | string> =
    typeof source === 'string' || source instanceof Uint8Array ? [source] : source
  for await (const piece of iterable) {
    const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece
    for (let offset = 0; offset < bytes.byteLength; offset += CHUNK_BYTES) {
      if (held) {
        if (!(await credit.take())) return
        if (!sink(seq++, held, false)) return
      }

      held = bytes.subarray(offset, offset + CHUNK_BYTES)
    }
  }

  if (held && !(await credit.take())) return
  sink(seq, held, true)
}

/** A body as it arrives from the other hub: an async iterable of chunks that grants credit as it is read. */
export class BodyInbox implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = []
  private readonly waiters = new Waiters<boolean>()
  private nextSeq = 0
  private consumed = 0
  private ended = false
  private error: Error | undefined

  constructor(
    private readonly grant: (chunks: number) => void,
    /** The consumer stopped before the end (its stream was destroyed): the sender should stop too. */
    private readonly abandoned: () => void = () => {},
  ) {}

  push(seq: number, chunk: Uint8Array, end: boolean): void {
    if (this.ended || this.error) return
    if (seq !== this.nextSeq) return this.fail(new PeerGoneError(`body chunk ${this.nextSeq} was lost between hubs`, {status: 502}))
    // More than the window: the other side broke the flow control; refusing keeps memory bounded.
    if (this.chunks.length >= WINDOW_CHUNKS * 2) return this.fail(new RestwireError('RW_ERR_PROTOCOL', 'the other hub sent past its credit', {details: {status: 502}}))
    this.nextSeq++
    // A copy: a view would keep the client's whole read buffer alive.
    if (chunk.byteLength > 0) this.chunks.push(Buffer.from(chunk))
    if (end) this.ended = true
    this.waiters.wake(true)
  }

  fail(error: Error): void {
    if (this.ended || this.error) return
    this.error = error
    this.chunks.length = 0
    this.waiters.wake(true)
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    try {
      yield* this.chunksInOrder()
    } finally {
      if (!this.ended && !this.error) this.abandoned()
    }
  }

  private async *chunksInOrder(): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = this.chunks.shift()
      if (chunk) {
        if (++this.consumed >= GRANT_STEP) {
          this.grant(this.consumed)
          this.consumed = 0
        }

        yield chunk
        continue
      }

      if (this.error) throw this.error
      if (this.ended) return
      await this.waiters.wait()
    }
  }
}

/** Bodies up to this size ride in the open message itself: no data message, no ack to wait for first. */
export const INLINE_BYTES = 64 * 1024
/** How long the caller waits for a body's next piece before streaming it rather than inlining it. */
const PREFETCH_WAIT_MS = 20

/** A wait that starts its timer at the end of the turn, unless it is over by then. */
interface TurnWait {
  over: boolean
  start(): void
}

/** The waits made in this turn: one setImmediate for all of them (one each cost more than the timer saved). */
let endOfTurn: TurnWait[] | undefined

function atEndOfTurn(wait: TurnWait): void {
  if (!endOfTurn) {
    const waits: TurnWait[] = (endOfTurn = [])
    setImmediate(() => {
      endOfTurn = undefined
      for (const each of waits) if (!each.over) each.start()
    })
  }

  endOfTurn.push(wait)
}

/**
 * `pending`'s result, or undefined if it takes longer than `ms`. The timer starts only at the end of
 * this event-loop turn: an HTTP request's body arrives in the same turn as its headers, so most calls
 * make no timer at all (one per call used to wake the hub every 20 ms for nothing, as Node leaves the
 * system timer of a cleared timer armed).
 */
function within<T>(pending: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    const wait: TurnWait = {over: false, start: () => (timer = setTimeout(resolve, ms, undefined))}
    atEndOfTurn(wait)
    pending.then(
      (value) => {
        wait.over = true
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        wait.over = true
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** A request body as the caller sends it: whole in the open message, or streamed after the ack. */
export type Prefetched = {inline: Buffer} | {streamed: BodySource}

/**
 * Reads the start of `source`: a body that ends within INLINE_BYTES (and without pausing longer than
 * PREFETCH_WAIT_MS between pieces) is inlined; otherwise what was read and the rest are streamed.
 */
export async function prefetchBody(source: BodySource): Promise<Prefetched> {
  if (typeof source === 'string' || source instanceof Uint8Array) {
    const bytes = typeof source === 'string' ? Buffer.from(source) : Buffer.from(source.buffer, source.byteOffset, source.byteLength)
    return bytes.byteLength <= INLINE_BYTES ? {inline: bytes} : {streamed: bytes}
  }

  const iterator = source[Symbol.asyncIterator]()
  const read: Buffer[] = []
  let total = 0
  let pending: Promise<IteratorResult<Buffer | Uint8Array | string>> | undefined = iterator.next()
  while (total <= INLINE_BYTES) {
    const result = await within(pending!, PREFETCH_WAIT_MS)
    if (result === undefined) break
    pending = undefined
    if (result.done) return {inline: Buffer.concat(read)}
    const piece = typeof result.value === 'string' ? Buffer.from(result.value) : Buffer.from(result.value.buffer, result.value.byteOffset, result.value.byteLength)
    read.push(piece)
    total += piece.byteLength
    if (total <= INLINE_BYTES) pending = iterator.next()
  }

  async function* rest(): AsyncGenerator<Buffer | Uint8Array | string> {
    let done = false
    try {
      yield* read
      if (pending) {
        const result = await pending
        if (result.done) return void (done = true)
        yield result.value
      }

      for (;;) {
        const result = await iterator.next()
        if (result.done) return void (done = true)
        yield result.value
      }
    } finally {
      if (!done) await iterator.return?.()
    }
  }

  return {streamed: rest()}
}
