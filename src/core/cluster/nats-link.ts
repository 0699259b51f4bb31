// The hub's connection to NATS: servers, TLS, user/password, token or creds file; reconnects forever
// and reports 'degraded' while no server is reachable. The client (@nats-io/transport-node) is imported
// here only, lazily: without --cluster it is never loaded.
import {readFile} from 'node:fs/promises'
import {randomBytes} from 'node:crypto'
import type {NatsConnection} from '@nats-io/transport-node'
import {RestwireError} from '../errors.js'
import {CLOSE_GRACE_MS} from '../link/session.js'
import {settleWithin} from '../link/streams.js'
import type {ClusterService} from './subjects.js'
import {BATCH_HEAD_BYTES, BATCH_INBOX_ID, BATCH_MAX_BYTES, batchEntryBytes, encodeBatch} from './wire.js'

export interface ClusterOptions {
  /** nats://HOST:PORT (or tls://), at least one. */
  servers: string[]
  /** Hubs of the same name serve the same pipe; letters, digits, - and _. */
  name: string
  /** What the hubs serve: pipe hubs or tunnel gateways (their subjects never mix). Default pipe. */
  service?: ClusterService
  /** This hub's name in GET /nodes and the logs. Default: a random id. */
  hubName?: string
  user?: string
  pass?: string
  token?: string
  /** A NATS .creds file (JWT and NKey seed). */
  credsFile?: string
  /** TLS to the NATS servers: a CA to trust, and a client certificate if the servers require one. */
  tls?: {caFile?: string; certFile?: string; keyFile?: string}
}

export type ClusterState = 'connected' | 'degraded'

/**
 * Messages of one event-loop turn go to the NATS client together, so that it writes them to its socket
 * at once: the client flushes on a microtask, which at concurrency 64 meant one write per call (each
 * HTTP request and each reply runs in its own callback). Once this many bytes wait, they go at once
 * (a body's chunks never wait for the end of a turn, and the other hub starts on the first calls
 * while this one still makes the rest, as frame-queue.ts does for the pipe).
 */
const EARLY_SEND_BYTES = 4 * 1024

/**
 * The messages of a turn to one destination also go as one NATS message, a batch (wire.ts): nats-server
 * parses and routes it once, and the other hub's client parses it and calls the subscription once.
 *   - to another hub's call inbox (`_INBOX.<hubId>.<call>`): to `_INBOX.<hubId>._b`, each entry the call id;
 *   - opens to one node's subject: to that subject, each entry the open's reply subject (the caller's
 *     call); the batch's reply subject is a group (`openGroups`, call-inbox.ts) that hands the server's
 *     "no responders" to each call of it.
 * A destination with one message this turn gets it plain, as before (nothing waits longer for a batch);
 * a message too large for a batch (a body chunk) goes plain, after what was batched before it for the
 * same destination (a call's messages keep their order).
 */
interface Queued {
  subject: string
  payload: Uint8Array
  reply?: string
}

interface Batch {
  /** Where the batch goes. */
  subject: string
  /** Opens: entries are addressed by their reply subject. */
  opens: boolean
  entries: Array<{address: string; payload: Uint8Array; message: Queued}>
  bytes: number
}

/** An address (call id or reply subject) that fits a batch entry's u8 length: ASCII (ids and inboxes are), at most 255. */
const ADDRESS = /^[\x21-\x7e]{1,255}$/
/** A call's subject under a hub's inbox: `_INBOX.<hubId>.<call id>` (the inbox with its dot, the id). */
const CALL_SUBJECT = /^(_INBOX\.[^.*>\s]+\.)([^.*>\s]+)$/

export interface NatsLink {
  readonly nc: NatsConnection
  /** A random id, unique per hub process: names this hub's subjects. */
  readonly hubId: string
  readonly hubName: string
  readonly cluster: string
  readonly service: ClusterService
  readonly state: ClusterState
  /**
   * Publishes a call's message (forward.ts), batched by event-loop turn; dropped once the connection
   * is closed. Presence and pings use `nc` directly.
   */
  send(subject: string, payload: Uint8Array, reply?: string): void
  /**
   * How a batch of opens gets its reply subject, from the opens' own (call-inbox.ts); undefined: those
   * opens go plain. Without it, opens are never batched.
   */
  openGroups: ((replies: string[]) => string | undefined) | undefined
  /** Called on every change of state ('degraded' on losing NATS, 'connected' once back). */
  onState(listener: (state: ClusterState, detail: string) => void): void
  /** Leaves NATS (flushes what is queued first). Safe twice. */
  close(): Promise<void>
}

const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,64}$/

export async function connectNats(options: ClusterOptions): Promise<NatsLink> {
  if (!CLUSTER_NAME.test(options.name)) {
    throw new RestwireError('RW_ERR_USAGE', `bad cluster name "${options.name}": use letters, digits, - and _ (at most 64)`)
  }

  if (options.servers.length === 0) throw new RestwireError('RW_ERR_USAGE', 'no NATS server given (--cluster nats://HOST:PORT)')
  const {connect, credsAuthenticator} = await import('@nats-io/transport-node')
  const hubId = randomBytes(6).toString('hex')
  const hubName = options.hubName ?? `hub-${hubId}`
  let authenticator
  if (options.credsFile) {
    const creds = await readFile(options.credsFile).catch((error: unknown) => {
      throw new RestwireError('RW_ERR_CONFIG', `cannot read the NATS creds file ${options.credsFile}: ${(error as Error).message}`, {cause: error})
    })
    authenticator = credsAuthenticator(new Uint8Array(creds))
  }

  let nc: NatsConnection
  try {
    nc = await connect({
      authenticator,
      ignoreAuthErrorAbort: true,
      // Forever: a hub outlives any NATS outage and rejoins by itself.
      maxReconnectAttempts: -1,
      name: `restwire ${options.service ?? 'pipe'} hub ${hubName}`,
      pass: options.pass,
      // A dead server is noticed within about 4 s even without a TCP reset.
      pingInterval: 2000,
      maxPingOut: 2,
      reconnectTimeWait: 500,
      servers: options.servers,
      tls: options.tls ? {...options.tls} : undefined,
      token: options.token,
      user: options.user,
    })
  } catch (error) {
    throw new RestwireError('RW_ERR_CLUSTER', `cannot join the cluster through ${options.servers.join(', ')}: ${(error as Error).message}`, {cause: error})
  }

  let state: ClusterState = 'connected'
  const listeners: Array<(state: ClusterState, detail: string) => void> = []
  const set = (next: ClusterState, detail: string): void => {
    if (state === next) return
    state = next
    for (const listener of listeners) listener(next, detail)
  }

  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') set('degraded', `lost NATS server ${status.server}`)
      else if (status.type === 'reconnect') set('connected', `NATS server ${status.server}`)
    }
  })()

  let queue: Queued[] = []
  let queuedBytes = 0
  let scheduled: NodeJS.Immediate | undefined
  const publish = (subject: string, payload: Uint8Array, reply?: string): void => {
    try {
      nc.publish(subject, payload, reply ? {reply} : undefined)
    } catch {
      // Closed meanwhile, or over max_payload (a bug): the call's own bounds end it.
    }
  }

  const publishBatch = (batch: Batch): void => {
    if (batch.entries.length === 1) {
      const {message} = batch.entries[0]!
      return publish(message.subject, message.payload, message.reply)
    }

    const reply = batch.opens ? link.openGroups?.(batch.entries.map((entry) => entry.address)) : undefined
    if (batch.opens && !reply) {
      for (const {message} of batch.entries) publish(message.subject, message.payload, message.reply)
      return
    }

    publish(batch.subject, encodeBatch(batch.entries), reply)
  }

  const flush = (): void => {
    clearImmediate(scheduled)
    scheduled = undefined
    const messages = queue
    queue = []
    queuedBytes = 0
    if (nc.isClosed()) return
    // By destination, in the order each was first seen.
    const batches = new Map<string, Batch>()
    for (const message of messages) {
      const opens = message.reply !== undefined
      let key: string | undefined
      let address: string | undefined
      let batchSubject = message.subject
      if (opens) {
        if (link.openGroups && !message.subject.startsWith('_INBOX.')) {
          key = `open ${message.subject}`
          address = message.reply
        }
      } else {
        const call = CALL_SUBJECT.exec(message.subject)
        if (call) {
          key = call[1]!
          address = call[2]!
          batchSubject = key + BATCH_INBOX_ID
        }
      }

      if (key === undefined || address === undefined) {
        publish(message.subject, message.payload, message.reply)
        continue
      }

      const bytes = batchEntryBytes(address.length, message.payload)
      let batch = batches.get(key)
      const fits = ADDRESS.test(address) && BATCH_HEAD_BYTES + bytes <= BATCH_MAX_BYTES
      // What waits for this destination goes first: a call's messages keep their order.
      if (batch && (!fits || batch.bytes + bytes > BATCH_MAX_BYTES)) {
        publishBatch(batch)
        batches.delete(key)
        batch = undefined
      }

      if (!fits) {
        publish(message.subject, message.payload, message.reply)
        continue
      }

      if (!batch) batches.set(key, (batch = {bytes: BATCH_HEAD_BYTES, entries: [], opens, subject: batchSubject}))
      batch.entries.push({address, message, payload: message.payload})
      batch.bytes += bytes
    }

    for (const batch of batches.values()) publishBatch(batch)
  }

  let closing: Promise<void> | undefined
  const link: NatsLink = {
    close: () =>
      (closing ??= (async () => {
        flush()
        // Drain flushes what is queued (the goodbye to the other hubs); bounded, and skipped while NATS is away.
        if (state === 'connected') await settleWithin(nc.drain(), CLOSE_GRACE_MS)
        if (!nc.isClosed()) await nc.close()
      })()),
    cluster: options.name,
    hubId,
    hubName,
    nc,
    onState: (listener) => void listeners.push(listener),
    send(subject, payload, reply) {
      queue.push({payload, reply, subject})
      queuedBytes += payload.byteLength
      if (queuedBytes >= EARLY_SEND_BYTES) flush()
      else scheduled ??= setImmediate(flush)
    },
    openGroups: undefined,
    service: options.service ?? 'pipe',
    get state() {
      return state
    },
  }
  return link
}
