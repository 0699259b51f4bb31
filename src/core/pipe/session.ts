// One pipe connection over a socket, hub or node side: the socket wiring around PipeConnection (the
// engine: bytes in, frames out through a transport; connection.ts and streams.ts). The socket is a
// parameter (a TLS socket in use, any Duplex in tests); the session never dials or listens.
import {endWithin} from '../link/streams.js'
import {PipeConnection} from './connection.js'
import type {PipeEvent, PipeReply, PipeSessionOptions, SendOptions} from './event-types.js'

export {DEFAULT_HEARTBEAT_MS} from './defaults.js'
export {DEFAULT_MAX_READ_BYTES} from './event-types.js'
export {DEFAULT_MAX_IN_FLIGHT} from './streams.js'
export type {CallSignal, EventHandler, IncomingPipeEvent, PipeEvent, PipeReply, PipeSessionOptions, ReplySpec, SendOptions} from './event-types.js'

/** A peer that never finishes the close (after our GOAWAY) keeps its socket this long at most. */
const CLOSE_BOUND_MS = 1000

export class PipeSession {
  readonly since = new Date()
  private readonly connection: PipeConnection

  constructor(options: PipeSessionOptions) {
    const {socket, onClose, ...rest} = options
    // The socket is the transport as it is (write, pause, end, destroy): no wrapper on the hot path.
    const connection = new PipeConnection({
      ...rest,
      onClose(reason, error) {
        // Closed by us (GOAWAY, then end()): bounded in case the peer never finishes the close.
        if (!socket.destroyed) endWithin(socket, CLOSE_BOUND_MS)
        onClose?.(reason, error)
      },
      transport: socket,
    })
    this.connection = connection
    socket.on('data', (chunk: Buffer) => connection.push(chunk))
    socket.on('drain', () => connection.writable())
    socket.on('error', (error) => connection.lost(`connection error: ${error.message}`))
    socket.on('close', () => connection.lost('the peer closed the connection'))
    socket.on('end', () => socket.end())
  }

  get peer(): string {
    return this.connection.peer
  }

  get closed(): boolean {
    return this.connection.closed
  }

  get inFlight(): number {
    return this.connection.inFlight
  }

  /** Sends one event; resolves when the reply starts (its body streams on). Fails with 503 if the connection drops. */
  request(event: PipeEvent, options: SendOptions): Promise<PipeReply> {
    return this.connection.streams.request(event, options)
  }

  /** Says why (GOAWAY) and closes; every event in flight fails at once. Safe to call twice. */
  close(reason: string, code: 'RW_ERR_CLOSED' | 'RW_ERR_TIMEOUT' | 'RW_ERR_PROTOCOL' = 'RW_ERR_CLOSED'): void {
    this.connection.close(reason, code)
  }
}
