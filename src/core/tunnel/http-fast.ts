// The tunnel HTTP API's hot path on raw sockets (issue 15). node:http's request and response objects
// and stream machinery cost more CPU per request than the whole tunnel round trip, so the plain JSON
// requests to /nodes... are read by a strict HTTP/1.1 request reader written for them and answered
// with one socket write per connection per turn, in request order (pipelining included).
//
// The reader only accepts a strict subset of HTTP/1.1: a token method, an origin-form target of visible
// ASCII, `HTTP/1.1`, header lines `name: value` of visible ASCII, SP and HTAB (every line ending in CRLF),
// one Host, at most one Content-Length of digits, Connection absent or keep-alive, and no
// Transfer-Encoding, Expect or Upgrade. A request outside that subset (or one the API does not claim
// for this path: streams, other paths, big bodies) is not answered here: the connection, with that
// request's bytes unread, is handed to node:http, which serves it and everything after it exactly as
// it always has (its llhttp rejects smuggling attempts with 400, a head over 16 KiB with 431...). So
// the reader never reads a message differently from llhttp: what it accepts, llhttp reads the same way.
import {STATUS_CODES, type Server as HttpServer} from 'node:http'
import {type Server, type Socket, createServer} from 'node:net'

export interface FastRequest {
  method: string
  target: string
  /** The Content-Length bytes; undefined when there are none. Valid only during serve(). */
  body: Buffer | undefined
}

export interface FastAnswer {
  status: number
  /** The JSON text of the body. */
  text: string
  /** Extra header pairs, flat: name, value, name, value. */
  headers?: string[]
}

export interface FastHttpOptions {
  /** The node:http server that gets every connection the reader hands over. */
  fallback: HttpServer
  /** Whether the hot path serves this request (known once its head is read); if not, the connection is handed over. */
  claims(method: string, target: string, accept: string | undefined): boolean
  /** Answers one claimed request; must call answer exactly once. */
  serve(request: FastRequest, answer: (answer: FastAnswer) => void): void
  /** Bodies over this are handed to node:http (which reads them in chunks, or answers 413). */
  maxBodyBytes: number
  /** An idle keep-alive connection is closed after this. Default 5 s, as node:http's keepAliveTimeout. */
  keepAliveMs?: number
  /** A request whose head and body have not all arrived after this is answered 408 and closed. Default 60 s. */
  requestTimeoutMs?: number
}

export interface FastHttpServer {
  server: Server
  /** Closes idle connections now; busy ones after their answers. */
  closeIdle(): void
  /** Destroys every connection still open (the hot path's and node:http's). */
  closeAll(): void
}

/** A head longer than this goes to node:http (its limit, maxHeaderSize, is the same 16 KiB: it answers 431). */
export const FAST_MAX_HEAD_BYTES = 16 * 1024
/** Bodies up to this are read here; larger ones go to node:http. */
export const FAST_MAX_BODY_BYTES = 1024 * 1024
/** Pipelined requests answered at once per connection; the socket is paused beyond. */
const MAX_IN_FLIGHT = 32
/** Bytes written but not yet taken by the client, beyond which no further request is read. */
const HIGH_WATER = 64 * 1024
const SWEEP_MS = 1000

const CRLFCRLF = Buffer.from('\r\n\r\n')
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/[\x21-\x7e]*) HTTP\/1\.1$/
/** A header value as the reader accepts it: visible ASCII, SP and HTAB, nothing else (no CR, LF, NUL, obs-text). */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/
const DIGITS = /^[0-9]{1,15}$/
const KEEP_ALIVE = /^keep-alive$/i

interface Head {
  method: string
  target: string
  contentLength: number
  accept: string | undefined
}

/**
 * The request head (without its final CRLFCRLF) if it is inside the strict subset, else undefined.
 * Exported for the tests.
 */
export function parseHead(text: string): Head | undefined {
  const lines = text.split('\r\n')
  const request = REQUEST_LINE.exec(lines[0]!)
  if (!request) return undefined
  let contentLength: number | undefined
  let accept: string | undefined
  let host = 0
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    const colon = line.indexOf(':')
    // No colon, an empty name, or a line starting with SP/HTAB (obs-fold) fails the token test.
    if (colon <= 0) return undefined
    const name = line.slice(0, colon)
    if (!TOKEN.test(name)) return undefined
    const raw = line.slice(colon + 1)
    // Bare CR or LF, NUL, other controls and bytes over 0x7e stay outside the subset.
    if (!FIELD_VALUE.test(raw)) return undefined
    const value = raw.trim()
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host' && ++host > 1) return undefined
        break
      case 6:
        if (name.toLowerCase() === 'accept') {
          if (accept !== undefined) return undefined
          accept = value
        } else if (name.toLowerCase() === 'expect') return undefined
        break
      case 7:
        if (name.toLowerCase() === 'upgrade') return undefined
        break
      case 10:
        if (name.toLowerCase() === 'connection' && !KEEP_ALIVE.test(value)) return undefined
        break
      case 14:
        if (name.toLowerCase() === 'content-length') {
          // Duplicates (even equal ones), signs, spaces inside and empty values are left to llhttp.
          if (contentLength !== undefined || !DIGITS.test(value)) return undefined
          contentLength = Number(value)
        }

        break
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return undefined
        break
      default:
    }
  }

  // node:http answers 400 to an HTTP/1.1 request without Host (requireHostHeader).
  if (host !== 1) return undefined
  return {accept, contentLength: contentLength ?? 0, method: request[1]!, target: request[2]!}
}

/**
 * Whether a head not yet complete is already outside the subset: not starting with an uppercase
 * letter (garbage, TLS), or holding a CR not followed by LF or an LF not after CR (a head ended by
 * bare LFs would otherwise wait here for a CRLFCRLF that never comes).
 */
function refusedEarly(data: Buffer): boolean {
  const first = data[0]!
  if (first < 0x41 || first > 0x5a) return true
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]
    if (byte === 0x0a && data[i - 1] !== 0x0d) return true
    if (byte === 0x0d && i + 1 < data.length && data[i + 1] !== 0x0a) return true
  }

  return false
}

let dateText = ''
let dateAt = 0

/** The Date header's value, computed at most once a second (as node:http does). */
function httpDate(): string {
  const now = Date.now()
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000)
    dateText = new Date(now).toUTCString()
  }

  return dateText
}

/** The whole answer as node:http writes it for the same writeHead() and end(). */
export function answerText(answer: FastAnswer, keepAliveMs: number): string {
  const {status} = answer
  if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError(`invalid HTTP status ${status}`)
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\ncontent-length: ${Buffer.byteLength(answer.text)}\r\ncontent-type: application/json\r\n`
  const extra = answer.headers
  if (extra) {
    for (let i = 0; i + 1 < extra.length; i += 2) {
      const name = extra[i]!
      const value = extra[i + 1]!
      if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) throw new TypeError(`invalid header ${JSON.stringify(name)}`)
      head += `${name}: ${value}\r\n`
    }
  }

  head += `Date: ${httpDate()}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n\r\n`
  // As node:http: no body with 204 and 304, whatever the headers say.
  return status === 204 || status === 304 ? head : head + answer.text
}

interface Slot {
  text: string | undefined
}

class Connection {
  /** Bytes read and not yet parsed, starting at a request's first byte. */
  private buffered: Buffer | undefined
  /** The request whose body is being read, with the body's chunks so far. */
  private waiting: Head | undefined
  private chunks: Buffer[] = []
  private have = 0
  /** Answers in request order; each is filled in when ready and written once those before it are. */
  private readonly slots: Slot[] = []
  private flushing = false
  private paused = false
  private handingOver = false
  private ended = false
  /** When the connection became idle, or its current request started. */
  since = Date.now()
  private readonly onData = (chunk: Buffer): void => this.read(chunk)
  private readonly onEnd = (): void => this.end()
  private readonly onDrain = (): void => this.unblock()
  private readonly flush = (): void => this.write()

  constructor(
    readonly socket: Socket,
    private readonly owner: FastServer,
  ) {
    socket.on('data', this.onData)
    socket.on('end', this.onEnd)
    socket.on('drain', this.onDrain)
  }

  get idle(): boolean {
    return this.slots.length === 0 && this.buffered === undefined && this.waiting === undefined
  }

  get partial(): boolean {
    return this.buffered !== undefined || this.waiting !== undefined
  }

  private read(chunk: Buffer): void {
    if (this.idle) this.since = Date.now()
    if (this.waiting) {
      this.chunks.push(chunk)
      this.have += chunk.length
    } else {
      this.buffered = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk
    }

    this.parse()
  }

  private parse(): void {
    const {options} = this.owner
    while (!this.handingOver) {
      if (this.slots.length >= MAX_IN_FLIGHT || this.socket.writableLength > HIGH_WATER) {
        this.paused = true
        this.socket.pause()
        return
      }

      if (this.waiting) {
        const head = this.waiting
        if (this.have < head.contentLength) return
        const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have)
        this.waiting = undefined
        this.chunks = []
        this.have = 0
        this.buffered = all.length > head.contentLength ? all.subarray(head.contentLength) : undefined
        this.dispatch(head, all.subarray(0, head.contentLength))
        continue
      }

      const data = this.buffered
      if (data === undefined) return
      const end = data.indexOf(CRLFCRLF)
      if (end === -1 || end > FAST_MAX_HEAD_BYTES) {
        // A head still coming in waits, unless it is already one node:http would refuse at once.
        if (end === -1 && data.length <= FAST_MAX_HEAD_BYTES && !refusedEarly(data)) return
        return this.handOver()
      }

      const head = parseHead(data.toString('latin1', 0, end))
      if (!head || head.contentLength > options.maxBodyBytes || head.contentLength > FAST_MAX_BODY_BYTES || !options.claims(head.method, head.target, head.accept)) return this.handOver()
      const start = end + 4
      const rest = data.length - start
      if (rest < head.contentLength) {
        this.waiting = head
        this.buffered = undefined
        if (rest > 0) this.chunks.push(data.subarray(start))
        this.have = rest
        return
      }

      this.buffered = rest > head.contentLength ? data.subarray(start + head.contentLength) : undefined
      this.dispatch(head, head.contentLength === 0 ? undefined : data.subarray(start, start + head.contentLength))
    }
  }

  private dispatch(head: Head, body: Buffer | undefined): void {
    const slot: Slot = {text: undefined}
    this.slots.push(slot)
    const {options, keepAliveMs} = this.owner
    let answered = false
    options.serve({body, method: head.method, target: head.target}, (answer) => {
      if (answered) return
      answered = true
      try {
        slot.text = answerText(answer, keepAliveMs)
      } catch (error) {
        slot.text = answerText({status: 500, text: JSON.stringify({code: 'RW_ERR_INTERNAL', error: (error as Error).message})}, keepAliveMs)
      }

      if (slot === this.slots[0] && !this.flushing) {
        // Answers that come in the same turn leave in one write.
        this.flushing = true
        process.nextTick(this.flush)
      }
    })
  }

  /** Writes the answers that are ready now (close() calls it before cutting the connection). */
  flushNow(): void {
    this.write()
  }

  private write(): void {
    if (!this.flushing) return
    this.flushing = false
    let out = ''
    while (this.slots.length > 0 && this.slots[0]!.text !== undefined) out += this.slots.shift()!.text
    if (this.socket.destroyed) return
    if (out !== '') this.socket.write(out)
    if (this.slots.length > 0) return
    if (this.handingOver) return this.handOver()
    if (this.ended || this.owner.closing) {
      this.socket.end()
      return
    }

    if (!this.partial) this.since = Date.now()
    this.unblock()
  }

  private unblock(): void {
    if (!this.paused || this.slots.length >= MAX_IN_FLIGHT / 2 || this.socket.writableLength > HIGH_WATER || this.handingOver) return
    this.paused = false
    this.socket.resume()
    this.parse()
  }

  private end(): void {
    // The client sent FIN: what it sent in full is answered, then the connection ends.
    this.ended = true
    this.buffered = undefined
    this.waiting = undefined
    if (this.slots.length === 0) this.socket.end()
  }

  /** Once every earlier answer is written: node:http takes the socket from this request's first byte. */
  private handOver(): void {
    this.handingOver = true
    this.socket.pause()
    if (this.slots.length > 0 || this.socket.destroyed) return
    this.owner.connections.delete(this)
    this.socket.off('data', this.onData)
    this.socket.off('end', this.onEnd)
    this.socket.off('drain', this.onDrain)
    if (this.ended) {
      // Its bytes can no longer be given back to the stream: nothing more to serve.
      this.socket.end()
      return
    }

    if (this.buffered) this.socket.unshift(this.buffered)
    this.buffered = undefined
    this.owner.options.fallback.emit('connection', this.socket)
    this.socket.resume()
  }

  /** An idle connection over keep-alive, or a request over its time: closed (408 for the latter, as node:http). */
  sweep(now: number): void {
    if (this.idle && now - this.since > this.owner.keepAliveMs) this.socket.destroy()
    else if (this.slots.length === 0 && this.partial && now - this.since > this.owner.requestTimeoutMs) {
      this.socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n')
      this.socket.destroySoon()
    }
  }
}

class FastServer {
  readonly connections = new Set<Connection>()
  readonly keepAliveMs: number
  readonly requestTimeoutMs: number
  closing = false
  private sweeper: NodeJS.Timeout | undefined

  constructor(readonly options: FastHttpOptions) {
    this.keepAliveMs = options.keepAliveMs ?? 5000
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000
  }

  accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy()
      return
    }

    const connection = new Connection(socket, this)
    this.connections.add(connection)
    socket.once('close', () => {
      this.connections.delete(connection)
      if (this.connections.size === 0) this.stopSweeping()
    })
    this.sweeper ??= setInterval(() => {
      const now = Date.now()
      for (const each of this.connections) each.sweep(now)
    }, SWEEP_MS).unref()
  }

  private stopSweeping(): void {
    clearInterval(this.sweeper)
    this.sweeper = undefined
  }

  closeIdle(): void {
    this.closing = true
    for (const connection of this.connections) if (connection.idle || connection.partial) connection.socket.destroy()
  }

  closeAll(): void {
    this.closing = true
    // Answers given in the same turn as the drain's end are still on their way to the socket.
    for (const connection of this.connections) {
      connection.flushNow()
      connection.socket.destroy()
    }

    this.stopSweeping()
    this.options.fallback.closeAllConnections()
  }
}

/**
 * A net server for the hot path; connections it does not serve go to `options.fallback`, a node:http
 * server that never listens itself (it is given each connection with the bytes it has not read yet).
 */
export function createFastHttpServer(options: FastHttpOptions): FastHttpServer {
  const fast = new FastServer(options)
  // allowHalfOpen: a client's FIN does not cut answers still on their way (node:http's own server is the same).
  const server = createServer({allowHalfOpen: true, noDelay: true}, (socket) => fast.accept(socket))
  // node:http tracks its connections (request and headers timeouts, closeAllConnections) once 'listening'.
  server.once('listening', () => options.fallback.emit('listening'))
  return {closeAll: () => fast.closeAll(), closeIdle: () => fast.closeIdle(), server}
}
