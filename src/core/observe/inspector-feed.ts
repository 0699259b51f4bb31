// The inspector's server-sent events: a snapshot (recent records, peers) when a page connects, then one
// `record` event per finished request and a `peers` event whenever the peer list changes. Bounded: at
// most maxClients streams, and a client whose unsent output passes maxBufferedBytes is dropped rather
// than buffered for (a stalled tab must not grow the server).
import type {ServerResponse} from 'node:http'
import {summarize} from './traffic-view.js'
import type {TrafficLog, TrafficRecord} from './traffic.js'

export const DEFAULT_MAX_SSE_CLIENTS = 8
export const DEFAULT_MAX_SSE_BUFFERED_BYTES = 1024 * 1024
const PEERS_EVERY_MS = 1000
/** A comment line this often keeps proxies and the browser from timing the stream out. */
const HEARTBEAT_MS = 15_000

export interface InspectorFeedOptions {
  log: TrafficLog
  /** The peer list as the page shows it; polled once a second while a page is connected. */
  peers: () => unknown
  /** Sent once in the snapshot: what the page's header says about this server. */
  about: unknown
  maxClients?: number
  maxBufferedBytes?: number
}

export class InspectorFeed {
  private readonly clients = new Set<ServerResponse>()
  private readonly maxClients: number
  private readonly maxBufferedBytes: number
  private unsubscribe: (() => void) | undefined
  private timer: NodeJS.Timeout | undefined
  private lastPeers = ''
  private ticks = 0
  /** Clients dropped because they did not keep up (reported in the snapshot of the next one, for tests and the page). */
  dropped = 0

  constructor(private readonly options: InspectorFeedOptions) {
    this.maxClients = options.maxClients ?? DEFAULT_MAX_SSE_CLIENTS
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_SSE_BUFFERED_BYTES
  }

  get size(): number {
    return this.clients.size
  }

  /** Starts a stream on `res`; false (nothing written) when maxClients are connected already. */
  attach(res: ServerResponse): boolean {
    if (this.clients.size >= this.maxClients) return false
    res.writeHead(200, {'cache-control': 'no-store', connection: 'keep-alive', 'content-type': 'text/event-stream; charset=utf-8'})
    res.socket?.setNoDelay(true)
    this.clients.add(res)
    res.once('close', () => this.detach(res))
    this.lastPeers = JSON.stringify(this.options.peers())
    const snapshot = {about: this.options.about, peers: JSON.parse(this.lastPeers) as unknown, records: this.options.log.recent().map(summarize)}
    this.send(res, 'snapshot', JSON.stringify(snapshot))
    this.start()
    return true
  }

  close(): void {
    for (const res of this.clients) res.end()
    this.clients.clear()
    this.stop()
  }

  private start(): void {
    this.unsubscribe ??= this.options.log.subscribe((record) => this.broadcast('record', record))
    this.timer ??= setInterval(() => this.tick(), PEERS_EVERY_MS).unref()
  }

  private stop(): void {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    clearInterval(this.timer)
    this.timer = undefined
  }

  private detach(res: ServerResponse): void {
    this.clients.delete(res)
    if (this.clients.size === 0) this.stop()
  }

  private broadcast(event: string, record: TrafficRecord): void {
    const data = JSON.stringify(summarize(record))
    for (const res of this.clients) this.send(res, event, data)
  }

  private tick(): void {
    let peers: string
    try {
      peers = JSON.stringify(this.options.peers())
    } catch {
      return
    }

    if (peers !== this.lastPeers) {
      this.lastPeers = peers
      for (const res of this.clients) this.send(res, 'peers', peers)
    }

    if (++this.ticks % (HEARTBEAT_MS / PEERS_EVERY_MS) === 0) for (const res of this.clients) this.write(res, ': keep-alive\n\n')
  }

  private send(res: ServerResponse, event: string, data: string): void {
    this.write(res, `event: ${event}\ndata: ${data}\n\n`)
  }

  private write(res: ServerResponse, text: string): void {
    if (res.destroyed) return this.detach(res)
    res.write(text)
    if (res.writableLength > this.maxBufferedBytes) {
      this.dropped++
      res.destroy()
      this.detach(res)
    }
  }
}
