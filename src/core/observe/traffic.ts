// What a server saw, one record per finished request or event: the single point where korv serve, the
// tunnel gateway and node, the pipe hub and node, and the relay report their traffic. Metrics count
// from these records and the inspector lists them. A server with no TrafficLog attached builds none.
export type TrafficProtocol = 'korv' | 'tunnel' | 'pipe' | 'relay'

export interface TrafficBody {
  /** Bytes on the wire for this body (after framing, before compression where known). */
  bytes: number
  /** The body as JSON, or a Buffer for binary; absent when the log keeps no bodies. */
  value?: unknown
  /** Items a STREAM delivered (the response of a stream, reported once when it ends). */
  items?: number
}

export interface TrafficRecord {
  /** Sequence number within this log, from 1. */
  id: number
  protocol: TrafficProtocol
  /** `in`: a request this process answered; `out`: one it sent to a peer (gateway → node, hub → node). */
  direction: 'in' | 'out'
  /** Epoch ms when the request started. */
  at: number
  /** Node id, client key fingerprint or client address, whichever names the peer best. */
  peer?: string
  /** GET, STORE, STREAM, POST, an event verb, or a relay request's name. */
  verb: string
  /** Route, resource, noun or relay request path. */
  path: string
  /**
   * The route pattern the request matched (`/users/:id`), or the relay request's name: a label of
   * bounded cardinality for metrics. Absent when this process does not know it (a gateway calling a
   * node's path, a request no route matched).
   */
  route?: string
  /**
   * What the request carried besides its path and body, so that the inspector can replay it: a tunnel
   * request's query params (an object), a pipe event's args (a string array). Absent when none.
   */
  params?: unknown
  /** The answer's status; 0 when none came (peer gone, timeout before any answer). */
  status: number
  latencyMs: number
  request: TrafficBody & {headers?: Record<string, string>}
  response: TrafficBody & {headers?: Record<string, string>}
  /** A restwire error code when the request failed without an answer (RW_ERR_TIMEOUT, ...). */
  error?: string
}

export type TrafficInput = Omit<TrafficRecord, 'id'>

/** A server's connections now, read when metrics are scraped. */
export interface ConnectionStats {
  /** Connections open (authenticated or not). */
  open: number
  /** Accepted and not yet authenticated (under the login grace time). */
  authenticating: number
  /** Peers (nodes) connected to this process, for the hubs and gateways. */
  peers?: number
  inFlight?: number
  /** Queues a peer can fill, now and at their highest since the start (metrics' high-water gauges). */
  queues?: Array<{queue: string; depth: number; highWater: number}>
}
export type TrafficListener = (record: TrafficRecord) => void

/**
 * What counts traffic (ServerMetrics): told of every record a log gets, and of every request a server
 * reports with tally() instead of a record, when no one reads records (no inspector, no subscriber).
 */
export interface TrafficCounter {
  count(record: TrafficRecord): void
  tally(protocol: TrafficProtocol, direction: 'in' | 'out', verb: string, route: string | undefined, status: number, error: string | undefined, latencyMs: number, requestBytes: number, responseBytes: number): void
}

/**
 * A body recorded as it streams past: a copy of its first bytes (at most the log's maxBodyBytes) and
 * its size so far. Made only by a log that keeps bodies (TrafficLog.captureBody), so a server without
 * an inspector copies nothing; the stream itself is never held. Its `value` is that prefix as one
 * Buffer (joined when read), shorter than `bytes` when the body was longer: the inspector marks it truncated.
 */
export class StreamedBody implements TrafficBody {
  bytes = 0
  headers?: Record<string, string>
  private chunks: Buffer[] = []
  private keptBytes = 0
  private joined: Buffer | undefined
  private dropped = false
  /** Set by the log holding the record: told of each byte kept, for its total bound. */
  grew: ((bytes: number) => void) | undefined

  constructor(private readonly limit: number) {}

  /** Bytes of the prefix kept now. */
  get kept(): number {
    return this.dropped ? 0 : this.keptBytes
  }

  add(chunk: Uint8Array | string): void {
    const length = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
    this.bytes += length
    const room = this.limit - this.keptBytes
    if (this.dropped || room <= 0 || length === 0) return
    // A string is encoded only as far as the prefix reaches (a UTF-8 character is at most 4 bytes).
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk.length > room ? chunk.slice(0, room) : chunk) : chunk
    const piece = Buffer.from(bytes.subarray(0, room))
    this.chunks.push(piece)
    this.keptBytes += piece.length
    this.joined = undefined
    this.grew?.(piece.length)
  }

  get value(): Buffer | undefined {
    if (this.dropped || this.keptBytes === 0) return undefined
    if (!this.joined) {
      this.joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.keptBytes)
      this.chunks = [this.joined]
    }

    return this.joined
  }

  /** Only `undefined` may be set: the log dropping the prefix (for its total bound, or the record left it). */
  set value(value: unknown) {
    if (value !== undefined) throw new TypeError('a StreamedBody keeps only what streams past it')
    this.dropped = true
    this.chunks = []
    this.joined = undefined
  }
}

/** One client connection a server holds now (korv serve's SSH connections, the relay's sockets), for the inspector. */
export interface ConnectedClient {
  /** `host:port` of the peer, or `unix socket #n`: unique among the open connections. */
  id: string
  address?: string
  /** SSH key fingerprint (korv). */
  fingerprint?: string
  /** Epoch ms when the connection was accepted. */
  since: number
  inFlight: number
}

/** The first `limit` connected clients and how many there are in all (a list must stay bounded under a flood). */
export interface ConnectedClients {
  total: number
  clients: ConnectedClient[]
}

export interface TrafficLogOptions {
  /** How many records the log keeps for late subscribers (the inspector's first page). */
  keep?: number
  /** Keep request and response bodies (the inspector needs them; metrics do not). */
  bodies?: boolean
  /** With bodies: a larger body is kept as its first bytes (a Buffer) or not at all (a JSON value). Default 64 KiB. */
  maxBodyBytes?: number
  /** With bodies: the bytes of all kept bodies; past it the oldest records lose theirs. Default 16 MiB:
   * a gateway's default inspector must stay within what a flood of large requests may grow it by. */
  maxBodyTotalBytes?: number
}

const DEFAULT_KEEP = 500
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024
export const DEFAULT_MAX_BODY_TOTAL_BYTES = 16 * 1024 * 1024

/** A bounded log of the last `keep` records, with listeners told of each new one. */
export class TrafficLog {
  readonly bodies: boolean
  private readonly keep: number
  private readonly ring: TrafficRecord[] = []
  private readonly listeners = new Set<TrafficListener>()
  private readonly counters: TrafficCounter[] = []
  private next = 1
  private readonly maxBodyBytes: number
  private readonly maxBodyTotalBytes: number
  /** Bytes of the bodies each ring entry keeps, in ring order, and their sum. */
  private readonly kept: number[] = []
  private keptTotal = 0
  /** Ring entries before this index have had their bodies dropped for the total bound. */
  private dropped = 0

  constructor(options: TrafficLogOptions = {}) {
    this.keep = Math.max(1, options.keep ?? DEFAULT_KEEP)
    this.bodies = options.bodies ?? false
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    this.maxBodyTotalBytes = options.maxBodyTotalBytes ?? DEFAULT_MAX_BODY_TOTAL_BYTES
  }

  /**
   * True when something reads whole records (the log keeps bodies or more than one record, or has a
   * subscriber): a server builds a record per request only then, and else reports it with tally().
   */
  get recording(): boolean {
    return this.bodies || this.keep > 1 || this.listeners.size > 0
  }

  /** Tells `counter` of every request from now on (records and tallies); returns the function that stops it. */
  addCounter(counter: TrafficCounter): () => void {
    this.counters.push(counter)
    return () => {
      const index = this.counters.indexOf(counter)
      if (index >= 0) this.counters.splice(index, 1)
    }
  }

  /**
   * A request reported without a record (when `recording` is false): only the counters hear of it. The
   * hot path of a server with metrics and no inspector: no object is built.
   */
  tally(protocol: TrafficProtocol, direction: 'in' | 'out', verb: string, route: string | undefined, status: number, error: string | undefined, latencyMs: number, requestBytes: number, responseBytes: number): void {
    for (let index = 0; index < this.counters.length; index++) {
      try {
        this.counters[index]!.tally(protocol, direction, verb, route, status, error, latencyMs, requestBytes, responseBytes)
      } catch {
        // a counter's fault must not break the server that reports the traffic
      }
    }
  }

  /** A recorder of a streamed body's first bytes when this log keeps bodies; undefined (nothing copied) when it does not. */
  captureBody(): StreamedBody | undefined {
    return this.bodies ? new StreamedBody(this.maxBodyBytes) : undefined
  }

  /**
   * Puts `body` (from captureBody) on a record already added, as its `side` body, for the inspector:
   * the counters counted the record as it was. Its prefix counts towards the total bound as it grows.
   */
  attachBody(record: TrafficRecord, side: 'request' | 'response', body: StreamedBody): void {
    body.headers ??= record[side].headers
    record[side] = body
    this.watch(record, body, true)
  }

  /**
   * Takes `input` as the record (it gains its `id`): servers build a fresh one per request, and a copy
   * (object spread) or `delete` here cost a korv request at c=64 more than 5% of its CPU.
   */
  add(input: TrafficInput): TrafficRecord {
    const record = input as TrafficRecord
    record.id = this.next++
    if (!this.bodies) {
      if (record.request.value !== undefined) record.request.value = undefined
      if (record.response.value !== undefined) record.response.value = undefined
    }

    this.ring.push(record)
    if (this.bodies) this.boundBodies(record)
    else if (this.ring.length > this.keep) this.ring.shift()
    for (let index = 0; index < this.counters.length; index++) {
      try {
        this.counters[index]!.count(record)
      } catch {
        // a counter's fault must not break the server that reports the traffic
      }
    }

    for (const listener of this.listeners) {
      try {
        listener(record)
      } catch {
        // a listener's fault must not break the server that reports the traffic
      }
    }

    return record
  }

  /** With bodies: each one bounded, the ring trimmed, and past the total the oldest records lose theirs. */
  private boundBodies(record: TrafficRecord): void {
    const size = this.boundBody(record.request, record) + this.boundBody(record.response, record)
    this.kept.push(size)
    this.keptTotal += size
    if (this.ring.length > this.keep) {
      const gone = this.ring.shift()!
      // A body still streaming stops being recorded: the log no longer shows it.
      if (gone.request instanceof StreamedBody) gone.request.value = undefined
      if (gone.response instanceof StreamedBody) gone.response.value = undefined
      this.keptTotal -= this.kept.shift()!
      this.dropped = Math.max(0, this.dropped - 1)
    }

    this.trim()
  }

  /** Past the total, the oldest records lose their bodies (never the newest record). */
  private trim(): void {
    // A body held by the log is memory the server cannot free.
    while (this.keptTotal > this.maxBodyTotalBytes && this.dropped < this.ring.length - 1) {
      const old = this.ring[this.dropped]!
      old.request.value = undefined
      old.response.value = undefined
      this.keptTotal -= this.kept[this.dropped]!
      this.kept[this.dropped++] = 0
    }
  }

  /** The index in the ring of a record it still holds with its bodies; -1 when it left or lost them. */
  private indexOf(record: TrafficRecord): number {
    const first = this.ring[0]
    const index = first === undefined ? -1 : record.id - first.id
    return index >= this.dropped && index < this.ring.length && this.ring[index] === record ? index : -1
  }

  /** Charges a streamed body's prefix to its record, now (`now`) and as it grows; a record gone from the log drops it. */
  private watch(record: TrafficRecord, body: StreamedBody, now: boolean): void {
    const charge = (bytes: number): void => {
      const index = this.indexOf(record)
      if (index < 0) {
        body.grew = undefined
        body.value = undefined
        return
      }

      this.kept[index]! += bytes
      this.keptTotal += bytes
      this.trim()
    }

    body.grew = charge
    if (now && body.kept > 0) charge(body.kept)
  }

  /** Cuts a body over maxBodyBytes (a Buffer to a copy of its first bytes, a JSON value dropped); the bytes it keeps. */
  private boundBody(body: TrafficBody, record: TrafficRecord): number {
    if (body instanceof StreamedBody) {
      // Charged here for what it holds now (boundBodies adds it up), and by watch() as it grows.
      this.watch(record, body, false)
      return body.kept
    }

    const {value} = body
    if (value === undefined) return 0
    if (Buffer.isBuffer(value)) {
      if (value.length <= this.maxBodyBytes) return value.length
      body.value = Buffer.from(value.subarray(0, this.maxBodyBytes))
      return this.maxBodyBytes
    }

    if (body.bytes <= this.maxBodyBytes) return body.bytes
    body.value = undefined
    return 0
  }

  /** The kept records, oldest first. */
  recent(): TrafficRecord[] {
    return [...this.ring]
  }

  get(id: number): TrafficRecord | undefined {
    return this.ring.find((record) => record.id === id)
  }

  /** Calls `listener` for every new record until the returned function is called. */
  subscribe(listener: TrafficListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
