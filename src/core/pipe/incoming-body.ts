// A body arriving on a pipe stream, held as plain chunks until someone asks for it: read() collects it
// with no stream machinery (most events are small and read whole), stream() turns it into a
// flow-controlled Readable for large or streamed bodies. Credit (WINDOW) is granted only for bytes
// handed to a reader, so an unread body holds at most one window.
import type {Readable} from 'node:stream'
import {BodyReadable} from './body-stream.js'

/** The session's side of its bodies; one object per session, so a body needs no closures of its own. */
export interface BodyOwner {
  /** Sends WINDOW credit for the body's stream. */
  grant(body: IncomingBody, bytes: number): void
  /** A Readable handed out was closed before the body ended (its reader gave up). */
  abandoned(body: IncomingBody): void
}

/** For bodies whose stream has already ended: no credit to grant, nothing to reset. */
const DETACHED: BodyOwner = {abandoned() {}, grant() {}}

/** Told of every chunk of a body as it arrives (the inspector's record of it, which keeps a bounded prefix). */
export interface BodyTap {
  add(chunk: Buffer): void
}

export class IncomingBody {
  private chunks: Buffer[] = []
  private tap: BodyTap | undefined
  private bufferedBytes = 0
  private received = 0
  private granted = 0
  private ended = false
  private failure: Error | undefined
  private discarded = false
  private readable: BodyReadable | undefined
  private reader: {resolve: (body: Buffer) => void; reject: (error: Error) => void; maxBytes: number} | undefined

  constructor(
    private readonly windowBytes: number,
    private readonly owner: BodyOwner,
    readonly streamId: number,
  ) {}

  /** A body that arrived whole (INLINE) on a stream that has already ended. */
  static whole(chunk: Buffer): IncomingBody {
    const body = new IncomingBody(chunk.length, DETACHED, 0)
    body.deliver(chunk)
    body.finish()
    return body
  }

  private grant(bytes: number): void {
    this.owner.grant(this, bytes)
  }

  /** Bytes received and not yet handed to a reader (no credit granted back for them yet). */
  get unconsumed(): number {
    return this.readable ? this.readable.unconsumedBytes : this.received - this.granted
  }

  get complete(): boolean {
    return this.readable ? this.readable.readableEnded : this.ended
  }

  /** Returns false when the sender overran its credit (a protocol violation). */
  deliver(slice: Buffer): boolean {
    // A small slice is copied out of the socket chunk it arrived in: held by a slow reader, a 1-byte
    // slice would keep its whole chunk (up to 64 KiB) alive. Large slices share their chunk.
    const chunk = slice.length < 4096 && slice.buffer.byteLength > 4 * slice.length ? Buffer.from(slice) : slice
    if (this.readable) {
      if (!this.readable.deliver(chunk)) return false
      this.tap?.add(chunk)
      return true
    }

    if (chunk.length > this.windowBytes - (this.received - this.granted)) return false
    this.received += chunk.length
    this.tap?.add(chunk)
    if (this.discarded || chunk.length === 0) return true
    this.chunks.push(chunk)
    this.bufferedBytes += chunk.length
    if (this.reader) {
      if (this.bufferedBytes > this.reader.maxBytes) this.failReader(new RangeError(`the body is larger than ${this.reader.maxBytes} bytes`))
      else this.grantBuffered()
    }

    return true
  }

  /** Tells `tap` of the chunks buffered so far and of every later one (set before any reader takes them). */
  tapWith(tap: BodyTap): void {
    for (const chunk of this.chunks) tap.add(chunk)
    this.tap = tap
  }

  finish(): void {
    if (this.readable) return void this.readable.finish()
    this.ended = true
    if (this.reader) this.settle()
  }

  /** The body will not complete (reset, connection lost). */
  fail(error: Error): void {
    if (this.readable) {
      // An error with no one listening would be an uncaught exception: a body nobody reads just closes.
      if (!this.readable.readableEnded) this.readable.destroy(this.readable.listenerCount('error') > 0 ? error : undefined)
      return
    }

    if (this.ended) return
    this.failure = error
    if (this.reader) this.failReader(error)
  }

  /** Nobody will read the rest: drop what is buffered and whatever still arrives. */
  discard(): void {
    if (this.readable) {
      if (!this.readable.readableEnded) this.readable.destroy()
      return
    }

    this.discarded = true
    this.chunks = []
    this.bufferedBytes = 0
  }

  /** The whole body, refusing more than maxBytes. */
  read(maxBytes: number): Promise<Buffer> {
    if (this.readable) return this.readable.readAll(maxBytes)
    if (this.reader) return Promise.reject(new Error('the body is already being read'))
    // The common case, a small body that came whole (INLINE): no reader state, no executor closure.
    if (this.ended && this.failure === undefined && this.bufferedBytes <= maxBytes) return Promise.resolve(this.takeAll())
    return new Promise((resolve, reject) => {
      this.reader = {maxBytes, reject, resolve}
      if (this.failure) return this.failReader(this.failure)
      if (this.bufferedBytes > maxBytes) return this.failReader(new RangeError(`the body is larger than ${maxBytes} bytes`))
      if (this.ended) return this.settle()
      this.grantBuffered()
    })
  }

  /** The body as a flow-controlled Readable (made on first use; what is buffered comes first). */
  stream(): Readable {
    if (this.readable) return this.readable
    const readable = new BodyReadable(this.windowBytes, (bytes) => this.grant(bytes), {granted: this.granted, received: this.received})
    for (const chunk of this.chunks) readable.push(chunk)
    this.chunks = []
    this.readable = readable
    if (this.failure) readable.destroy()
    else if (this.ended) readable.push(null)
    readable.once('close', () => {
      if (!readable.readableEnded) this.owner.abandoned(this)
    })
    return readable
  }

  private grantBuffered(): void {
    const owed = this.received - this.granted
    if (owed === 0) return
    this.granted += owed
    this.grant(owed)
  }

  private settle(): void {
    const {resolve} = this.reader!
    this.reader = undefined
    resolve(this.takeAll())
  }

  private takeAll(): Buffer {
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bufferedBytes)
    this.chunks = []
    this.bufferedBytes = 0
    return body
  }

  private failReader(error: Error): void {
    const {reject} = this.reader!
    this.reader = undefined
    this.discard()
    reject(error)
  }
}
