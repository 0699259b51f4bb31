// One NATS subscription per hub for every call it takes part in: `_INBOX.<hubId>.*`, each call an id
// under it. A subscription per call would cost a SUB and an UNSUB round through the server for every
// event; here a call is a map entry. Messages for an id that is over (late data, a hostile member) go
// to `stray`. Handlers run inside the NATS client's read loop: one that throws is caught here, so a
// malformed message can never break the hub's connection.
import type {Msg, NatsConnection, Subscription} from '@nats-io/transport-node'

export type CallHandler = (msg: Msg) => void

export class CallInbox {
  private readonly calls = new Map<string, CallHandler>()
  private readonly prefix: string
  private readonly subscription: Subscription
  private next = 0

  constructor(nc: NatsConnection, hubId: string, stray: CallHandler, onError: (error: Error) => void) {
    this.prefix = `_INBOX.${hubId}.`
    this.subscription = nc.subscribe(`${this.prefix}*`, {
      callback: (_error, msg) => {
        try {
          const handler = this.calls.get(msg.subject.slice(this.prefix.length))
          ;(handler ?? stray)(msg)
        } catch (error) {
          onError(error as Error)
        }
      },
    })
  }

  /** Calls open now. */
  get size(): number {
    return this.calls.size
  }

  /** A new call: its subject, where the other hub sends to it. */
  open(handler: CallHandler): string {
    const id = (this.next++).toString(36)
    this.calls.set(id, handler)
    return this.prefix + id
  }

  close(subject: string): void {
    this.calls.delete(subject.slice(this.prefix.length))
  }

  stop(): void {
    this.calls.clear()
    this.subscription.unsubscribe()
  }
}
