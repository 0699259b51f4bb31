// Which hub holds which node, kept in every hub's memory from NATS subjects (subjects.ts), not from a
// KV bucket: NATS 2.9 has no per-key TTL, and a bucket-wide max age would have every hub rewrite every
// node's key each second for a dead hub's nodes to vanish within seconds. Here a hub's liveness is its
// heartbeat: one message per hub per second, whatever its node count; a hub silent for 3 s that does
// not answer a ping within 1 s (or whose ping finds no responders) takes its nodes with it. Routing does not trust this directory: a call goes
// to the node's own subject, which only the holding hub subscribes to.
import type {Msg, NatsConnection, Subscription} from '@nats-io/transport-node'
import {Waiters} from '../link/waiters.js'
import type {NatsLink} from './nats-link.js'
import {type ClusterSubjects, clusterSubjects} from './subjects.js'

export const BEAT_MS = 1000
export const HUB_SILENCE_MS = 3000
/**
 * A hub silent for HUB_SILENCE_MS is pinged before it is judged gone: one that answers within this
 * long was only stalled (a loaded machine, a long GC) and keeps its nodes and its calls.
 */
export const SILENCE_PING_MS = 1000
/**
 * A hub answers syncs at most this often: the answer goes to every hub, so the syncs that come while
 * one is answered share the next answer, and a member flooding .sync costs each hub a few answers a
 * second instead of one per message.
 */
export const SYNC_ANSWER_EVERY_MS = 250
/** How often a hub with calls in flight to another hub checks that it is alive. */
export const PROBE_MS = 250
/** Nodes per .up message (a sync of a big hub goes out in batches well under max_payload). */
const ANNOUNCE_BATCH = 500
/**
 * Bounds on what other NATS members can make a hub hold: hubs heard from at once, node names
 * remembered as "seen" (the oldest are forgotten first), and how far in the future a claim's
 * connection time may be (a claim dated later would win newest-wins against every real connection).
 */
export const MAX_HUBS = 1000
export const MAX_SEEN_NODES = 500_000
export const MAX_CLAIM_AHEAD_MS = 10 * 60_000
const MAX_NAME_LENGTH = 1024

export interface NodeClaim {
  node: string
  /** Connection time, epoch ms: the newest connection wins across hubs (ties: the higher hub id). */
  at: number
  address: string
  /** A tunnel node's host key fingerprint (for GET /nodes on the other gateways). */
  fingerprint?: string
}

export interface RemoteNode extends NodeClaim {
  hubId: string
  hubName: string
}

export interface PresenceOptions {
  /** This hub's nodes, for a sync. */
  localNodes(): NodeClaim[]
  /** Nodes that connected to this hub and are not connected to it now, for a sync. */
  localAway(): string[]
  /** Another hub claims `node` with a connection made at `at`. */
  onClaim(claim: RemoteNode): void
  /** A hub left or died: calls through it must fail. */
  onHubGone(hubId: string): void
  /** A malformed or out-of-bounds message from another member (rate-limited by the caller). */
  report?(problem: string): void
}

const isName = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME_LENGTH

/** A claim as announced, if well-formed: names are strings, times are finite and not far ahead. */
function validClaim(value: unknown): value is NodeClaim {
  const claim = value as Partial<NodeClaim> | null
  return (
    typeof claim === 'object' && claim !== null && isName(claim.node) && typeof claim.address === 'string' && claim.address.length <= MAX_NAME_LENGTH &&
    typeof claim.at === 'number' && Number.isFinite(claim.at) && claim.at <= Date.now() + MAX_CLAIM_AHEAD_MS &&
    (claim.fingerprint === undefined || (typeof claim.fingerprint === 'string' && claim.fingerprint.length <= MAX_NAME_LENGTH))
  )
}

export class Presence {
  readonly subjects: ClusterSubjects
  private readonly nc: NatsConnection
  private readonly remote = new Map<string, RemoteNode>()
  private readonly hubs = new Map<string, {name: string; lastSeen: number}>()
  private readonly seen = new Set<string>()
  private readonly arrivals = new Map<string, Waiters<RemoteNode>>()
  private readonly subscriptions: Subscription[] = []
  private readonly timers: NodeJS.Timeout[] = []
  /** When the silence check last ran: a check that runs late means this hub itself was stalled. */
  private lastExpire = Date.now()
  /** Silent hubs being pinged before they are judged gone. */
  private readonly confirming = new Set<string>()
  private pending: NodeClaim[] = []
  private flush: NodeJS.Immediate | undefined
  /** Set while a sync answer's period runs; `again` when another sync came in it. */
  private syncAnswered: {timer: NodeJS.Timeout; again: boolean} | undefined

  constructor(private readonly link: NatsLink, private readonly options: PresenceOptions) {
    this.nc = link.nc
    this.subjects = clusterSubjects(link.cluster, link.service)
  }

  start(): void {
    const s = this.subjects
    this.listen(s.beat, (value: {hub: string; name: unknown}) => {
      if (!isName(value.name)) return this.report(`a heartbeat from hub ${value.hub} without a name`)
      this.heard(value.hub, value.name)
    })
    this.listen(s.up, (value: {hub: string; name: unknown; nodes: unknown}) => {
      if (!isName(value.name) || !Array.isArray(value.nodes)) return this.report(`a malformed node announcement from hub ${value.hub}`)
      if (!this.heard(value.hub, value.name)) return
      const bad = value.nodes.filter((claim) => !validClaim(claim)).length
      if (bad > 0) this.report(`${bad} malformed or future-dated node claims from hub ${value.name} ignored`)
      for (const claim of value.nodes as unknown[]) if (validClaim(claim)) this.claimed({...claim, hubId: value.hub, hubName: value.name})
    })
    this.listen(s.down, (value: {hub: string; node: unknown}) => {
      if (typeof value.node === 'string' && this.remote.get(value.node)?.hubId === value.hub) this.remote.delete(value.node)
    })
    this.listen(s.bye, (value: {hub: string}) => this.gone(value.hub))
    // Names a hub knows but that are connected nowhere now: a call for one waits, then 503, as on the hub
    // it left, not 404 (never seen) on a hub that joined after it left.
    this.listen(s.seen, (value: {hub: string; name: unknown; nodes: unknown}) => {
      if (!isName(value.name) || !Array.isArray(value.nodes) || value.nodes.length > ANNOUNCE_BATCH) return this.report(`a malformed list of known nodes from hub ${value.hub}`)
      if (!this.heard(value.hub, value.name)) return
      for (const node of value.nodes as unknown[]) if (isName(node) && !this.seen.has(node)) this.remember(node)
    })
    // `to`: one hub asked one other (it heard from a hub it did not know); none: a hub (re)joined.
    this.listen(s.sync, (value: {hub: string; to?: unknown}) => {
      if (value.to !== undefined && value.to !== this.link.hubId) return
      this.answerSync()
    })
    this.subscriptions.push(this.nc.subscribe(s.ping(this.link.hubId), {callback: (_error, msg) => void msg.respond()}))
    this.timers.push(
      setInterval(() => this.beat(), BEAT_MS),
      setInterval(() => this.expire(), BEAT_MS),
    )
    this.rejoin()
  }

  /** After joining or a NATS outage: tell every hub our nodes, and ask for theirs. */
  rejoin(): void {
    this.beat()
    this.announce(this.options.localNodes())
    this.publish(this.subjects.sync, {hub: this.link.hubId})
  }

  /** NATS is gone: nothing known of the other hubs holds any more. */
  forgetOthers(): void {
    for (const hubId of [...this.hubs.keys()]) this.gone(hubId)
  }

  /** This hub's nodes and the names it knows, to every hub: at once, or once at the end of the period. */
  private answerSync(): void {
    if (this.syncAnswered) {
      this.syncAnswered.again = true
      return
    }

    this.announce(this.options.localNodes())
    this.tellAway()
    const timer = setTimeout(() => {
      const again = this.syncAnswered?.again
      this.syncAnswered = undefined
      if (again) this.answerSync()
    }, SYNC_ANSWER_EVERY_MS).unref()
    this.syncAnswered = {again: false, timer}
  }

  /** Tells every hub the names this hub knows that are connected nowhere it knows of, in batches. */
  private tellAway(): void {
    const away = new Set(this.options.localAway())
    for (const node of this.seen) if (!this.remote.has(node)) away.add(node)
    const names = [...away]
    for (let i = 0; i < names.length; i += ANNOUNCE_BATCH) {
      this.publish(this.subjects.seen, {hub: this.link.hubId, name: this.link.hubName, nodes: names.slice(i, i + ANNOUNCE_BATCH)})
    }
  }

  /** Tells every hub these nodes are here; the claims of one event-loop turn go out together (a hub restart reconnects thousands at once). */
  announce(claims: NodeClaim[]): void {
    this.pending.push(...claims)
    this.flush ??= setImmediate(() => {
      this.flush = undefined
      const all = this.pending.splice(0)
      for (let i = 0; i < all.length; i += ANNOUNCE_BATCH) {
        this.publish(this.subjects.up, {hub: this.link.hubId, name: this.link.hubName, nodes: all.slice(i, i + ANNOUNCE_BATCH)})
      }
    })
  }

  withdraw(node: string): void {
    // An up not yet sent must not follow this down.
    this.pending = this.pending.filter((claim) => claim.node !== node)
    this.publish(this.subjects.down, {hub: this.link.hubId, node})
  }

  /** A call found `node` connected nowhere: the entry of `hubId` for it is stale (its down is late, or that hub died). */
  drop(node: string, hubId: string): void {
    if (this.remote.get(node)?.hubId === hubId) this.remote.delete(node)
  }

  get(node: string): RemoteNode | undefined {
    return this.remote.get(node)
  }

  known(node: string): boolean {
    return this.seen.has(node)
  }

  list(): RemoteNode[] {
    return [...this.remote.values()]
  }

  hubNames(): Array<{id: string; name: string}> {
    return [...this.hubs.entries()].map(([id, {name}]) => ({id, name}))
  }

  /** The node once another hub announces it; undefined after timeoutMs. */
  arrival(node: string, timeoutMs?: number): Promise<RemoteNode | undefined> {
    let waiters = this.arrivals.get(node)
    if (!waiters) this.arrivals.set(node, (waiters = new Waiters<RemoteNode>()))
    const waiting = waiters.wait(timeoutMs)
    void waiting.then(() => {
      if (this.arrivals.get(node)?.size === 0) this.arrivals.delete(node)
    })
    return waiting
  }

  /**
   * Whether `hubId` is alive: false at once when its ping finds no responders (its connection and
   * subscriptions are gone). A ping that is only slow (a loaded hub or NATS) says nothing: a hub that is
   * really silent is dropped by the heartbeat check (HUB_SILENCE_MS) instead, never a busy one.
   */
  async alive(hubId: string): Promise<boolean> {
    if (this.link.state !== 'connected') return false
    try {
      await this.nc.request(this.subjects.ping(hubId), undefined, {timeout: 1000})
      return true
    } catch (error) {
      return !(error as {isNoResponders?: () => boolean}).isNoResponders?.()
    }
  }

  /** Stops listening; tells the others this hub is gone (so they fail calls through it at once). */
  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    clearImmediate(this.flush)
    clearTimeout(this.syncAnswered?.timer)
    this.syncAnswered = undefined
    if (this.link.state === 'connected') this.publish(this.subjects.bye, {hub: this.link.hubId})
    for (const subscription of this.subscriptions) subscription.unsubscribe()
    for (const waiters of this.arrivals.values()) waiters.wake(undefined)
    this.arrivals.clear()
  }

  private report(problem: string): void {
    this.options.report?.(problem)
  }

  /**
   * Subscribes `handle` to JSON messages on `subject` that name a hub. It runs inside the NATS client's
   * read loop: anything it throws is caught here, so a malformed message cannot break the connection.
   */
  private listen<T extends {hub: string}>(subject: string, handle: (value: T) => void): void {
    const callback = (_error: Error | null, msg: Msg): void => {
      try {
        const value = msg.json<T>()
        if (typeof value !== 'object' || value === null || !isName(value.hub) || value.hub.length > 64) {
          return this.report(`a message without a hub id on ${subject}`)
        }

        // Our own announcements come back to us: skip them.
        if (value.hub === this.link.hubId) return
        handle(value)
      } catch (error) {
        this.report(`a malformed message on ${subject} (${(error as Error).message.slice(0, 200)})`)
      }
    }

    this.subscriptions.push(this.nc.subscribe(subject, {callback}))
  }

  private claimed(claim: RemoteNode): void {
    this.seen.delete(claim.node)
    this.remember(claim.node)
    const current = this.remote.get(claim.node)
    if (!current || newer(claim, current)) this.remote.set(claim.node, claim)
    this.options.onClaim(claim)
    this.arrivals.get(claim.node)?.wake(claim)
    this.arrivals.delete(claim.node)
  }

  /** Adds `node` to the names seen, newest last; the oldest is forgotten past MAX_SEEN_NODES. */
  private remember(node: string): void {
    this.seen.add(node)
    if (this.seen.size > MAX_SEEN_NODES) this.seen.delete(this.seen.values().next().value!)
  }

  /** Notes that `hubId` is alive; false when it is new and there are MAX_HUBS already (its message is ignored). */
  private heard(hubId: string, name: string): boolean {
    if (hubId === this.link.hubId) return false
    const hub = this.hubs.get(hubId)
    if (hub) hub.lastSeen = Date.now()
    else {
      if (this.hubs.size >= MAX_HUBS) {
        this.report(`more than ${MAX_HUBS} hubs heard from: ignoring hub ${hubId} (${name})`)
        return false
      }

      this.hubs.set(hubId, {lastSeen: Date.now(), name})
      // A hub we did not know (it joined, or was silent for a while): it tells us its nodes again.
      this.publish(this.subjects.sync, {hub: this.link.hubId, to: hubId})
    }

    return true
  }

  private gone(hubId: string): void {
    if (!this.hubs.delete(hubId)) return
    for (const [node, entry] of this.remote) if (entry.hubId === hubId) this.remote.delete(node)
    this.options.onHubGone(hubId)
  }

  private beat(): void {
    this.publish(this.subjects.beat, {hub: this.link.hubId, name: this.link.hubName})
  }

  private expire(): void {
    const now = Date.now()
    // Silence counts only while this hub was awake: after a stall of its own (a loaded machine), timers
    // run before I/O, and the beats that came meanwhile still wait unread in its socket.
    const late = now - this.lastExpire - BEAT_MS
    this.lastExpire = now
    if (late > 0) for (const hub of this.hubs.values()) hub.lastSeen += late
    const limit = now - HUB_SILENCE_MS
    for (const [hubId, hub] of this.hubs) if (hub.lastSeen < limit) this.confirmSilence(hubId)
  }

  /** A silent hub is gone unless it answers a ping within SILENCE_PING_MS (no responders: gone at once). */
  private confirmSilence(hubId: string): void {
    if (this.confirming.has(hubId)) return
    this.confirming.add(hubId)
    const alive = (): void => {
      const hub = this.hubs.get(hubId)
      if (hub) hub.lastSeen = Date.now()
    }

    void Promise.resolve()
      .then(() => this.nc.request(this.subjects.ping(hubId), undefined, {timeout: SILENCE_PING_MS}))
      .then(alive, () => this.gone(hubId))
      .finally(() => this.confirming.delete(hubId))
  }

  private publish(subject: string, value: unknown): void {
    // While NATS is away the client would queue these; stale announcements are worse than none.
    if (this.link.state !== 'connected' || this.nc.isClosed()) return
    this.nc.publish(subject, JSON.stringify(value))
  }
}

/** Whether claim `a` is a newer connection than `b` (the newest wins; equal times: the higher hub id). */
export function newer(a: {at: number; hubId: string}, b: {at: number; hubId: string}): boolean {
  return a.at !== b.at ? a.at > b.at : a.hubId > b.hubId
}
