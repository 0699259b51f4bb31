// One NATS subscription per hub for every call it takes part in: `_INBOX.<hubId>.*`, each call an id
// under it. A subscription per call would cost a SUB and an UNSUB round through the server for every
// event; here a call is a map entry. Messages for an id that is over (late data, a hostile member) go
// to `stray`. Handlers run inside the NATS client's read loop: one that throws is caught here, so a
// malformed message can never break the hub's connection.
// Two ids no call ever has (call ids are base 36, without '_'):
//   _b      a batch from another hub (wire.ts): several messages, each for a call id; checked whole
//           before any is handed on, and dropped whole (reported) when malformed
//   _g<n>   the reply subject of a batch of opens (nats-link.ts): the server's "no responders" there is
//           handed to every call of the batch still open
import type {Msg, NatsConnection, Subscription} from '@nats-io/transport-node'
import {BATCH_INBOX_ID, WireError, decodeBatch} from './wire.js'

/** What a call's handler reads of a message: its payload, and the server's status (no responders). */
export interface CallMessage {
  data: Uint8Array
  headers?: Msg['headers']
}

export type CallHandler = (msg: CallMessage) => void

export class CallInbox {
  private readonly calls = new Map<string, CallHandler>()
  /** Batches of opens whose "no responders" may still come: their calls, and how many are still open. */
  private readonly groups = new Map<string, {calls: string[]; open: number}>()
  private readonly groupOf = new Map<string, string>()
  private readonly prefix: string
  private readonly subscription: Subscription
  private next = 0

  constructor(
    nc: NatsConnection,
    hubId: string,
    private readonly stray: CallHandler,
    private readonly onError: (error: Error) => void,
  ) {
    this.prefix = `_INBOX.${hubId}.`
    this.subscription = nc.subscribe(`${this.prefix}*`, {
      callback: (_error, msg) => {
        try {
          const id = msg.subject.slice(this.prefix.length)
          if (id === BATCH_INBOX_ID) return this.batch(msg.data)
          const handler = this.calls.get(id)
          if (handler) return handler(msg)
          if (id.startsWith('_g')) return this.noResponders(id, msg)
          stray(msg)
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
    const id = subject.slice(this.prefix.length)
    this.calls.delete(id)
    const groupId = this.groupOf.get(id)
    if (groupId === undefined) return
    this.groupOf.delete(id)
    const group = this.groups.get(groupId)
    if (group && --group.open === 0) this.groups.delete(groupId)
  }

  /**
   * The reply subject for a batch of opens whose own reply subjects are `subjects` (calls of this
   * inbox); undefined if one is not (that batch is not made).
   */
  group(subjects: string[]): string | undefined {
    const ids: string[] = []
    for (const subject of subjects) {
      const id = subject.startsWith(this.prefix) ? subject.slice(this.prefix.length) : ''
      if (!this.calls.has(id) || this.groupOf.has(id)) return undefined
      ids.push(id)
    }

    const groupId = `_g${(this.next++).toString(36)}`
    this.groups.set(groupId, {calls: ids, open: ids.length})
    for (const id of ids) this.groupOf.set(id, groupId)
    return this.prefix + groupId
  }

  stop(): void {
    this.calls.clear()
    this.groups.clear()
    this.groupOf.clear()
    this.subscription.unsubscribe()
  }

  /** The server's answer to a batch of opens (no subscriber on the node's subject): every call of it hears it. */
  private noResponders(groupId: string, msg: Msg): void {
    const group = this.groups.get(groupId)
    if (!group || msg.data.byteLength > 0) return this.stray(msg)
    this.groups.delete(groupId)
    for (const id of group.calls) {
      this.groupOf.delete(id)
      const handler = this.calls.get(id)
      if (handler) this.deliver(handler, msg)
    }
  }

  private batch(data: Uint8Array): void {
    // Checked whole first (a malformed batch is reported, none of it used).
    let entries
    try {
      entries = decodeBatch(data)
    } catch (error) {
      throw new WireError(`a malformed batch, dropped: ${(error as Error).message}`)
    }

    for (const entry of entries) this.deliver(this.calls.get(entry.address), {data: entry.payload})
  }

  /** One message to its call (or `stray`); a handler that throws does not keep the rest of a batch from theirs. */
  private deliver(handler: CallHandler | undefined, msg: CallMessage): void {
    try {
      ;(handler ?? this.stray)(msg)
    } catch (error) {
      this.onError(error as Error)
    }
  }
}
