// A PeerRegistry whose peers may be connected to other hubs of the cluster: this hub's own sessions
// live in a LocalPeerRegistry, the others are known from Presence and reached through a proxy session
// that `remote` makes. The newest connection wins across hubs: a claim from another hub newer than a
// local session closes the local one.
import {type LocalPeerRegistry, type PeerRegistry} from '../link/peer-registry.js'
import type {LinkSession} from '../link/session.js'
import {type NodeClaim, type Presence, type RemoteNode, newer} from './presence.js'

export interface ClusterPeerRegistryOptions<S extends LinkSession> {
  local: LocalPeerRegistry<S>
  presence: Presence
  hubId: string
  hubName: string
  /** A session standing for a node held by another hub. */
  remote(entry: RemoteNode): S
  /** Where a local session connected from (for the other hubs' GET /nodes). */
  address(session: S): string
  /** A tunnel node's host key fingerprint, announced with it. */
  fingerprint?(session: S): string
  /** When a local session connected (epoch ms). */
  since(session: S): number
  /** A local node arrived / left (the pipe subscribes to its call subject). */
  onLocal(name: string, present: boolean): void
  /** The side is closing: end what is in flight between hubs. */
  onClose?(): void
}

export class ClusterPeerRegistry<S extends LinkSession> implements PeerRegistry<S> {
  /** When each local node connected (epoch ms), for the newest-wins rule and announcements. */
  private readonly claims = new Map<string, NodeClaim>()
  /**
   * The session standing for each directory entry, made once: an entry is replaced (never changed) when
   * its node moves or reconnects, so its session stays true while it lives. Made per call before, it
   * cost a few objects and a never-settling promise on every forwarded event.
   */
  private readonly remotes = new WeakMap<RemoteNode, S>()

  constructor(private readonly options: ClusterPeerRegistryOptions<S>) {}

  get size(): number {
    return this.list().length
  }

  /** Nodes that connected to this hub and are not connected to it now, for a sync. */
  localAway(): string[] {
    return this.options.local.away()
  }

  /** This hub's nodes as claims, for a sync. */
  localClaims(): NodeClaim[] {
    return [...this.claims.values()]
  }

  /** Another hub holds `claim.node` from a connection newer than ours: ours is stale, close it. */
  claimed(claim: RemoteNode): void {
    const mine = this.claims.get(claim.node)
    if (!mine || !newer(claim, {...mine, hubId: this.options.hubId})) return
    // Its close handler removes it (remove() below), which logs it and withdraws the claim.
    this.options.local.get(claim.node)?.close(`replaced by a newer connection of ${claim.node} on hub ${claim.hubName}`)
  }

  get(name: string): S | undefined {
    const local = this.options.local.get(name)
    if (local) return local
    const entry = this.options.presence.get(name)
    return entry ? this.remoteOf(entry) : undefined
  }

  private remoteOf(entry: RemoteNode): S {
    let session = this.remotes.get(entry)
    if (!session) this.remotes.set(entry, (session = this.options.remote(entry)))
    return session
  }

  add(name: string, session: S, replacedReason: string): S | undefined {
    const previous = this.options.local.add(name, session, replacedReason)
    if (this.options.local.get(name) !== session) return previous
    const fingerprint = this.options.fingerprint?.(session)
    const claim = {address: this.options.address(session), at: this.options.since(session), node: name, ...(fingerprint ? {fingerprint} : {})}
    this.claims.set(name, claim)
    if (!previous) this.options.onLocal(name, true)
    this.options.presence.announce([claim])
    return previous
  }

  remove(name: string, session: S): boolean {
    if (!this.options.local.remove(name, session)) return false
    if (this.claims.delete(name)) {
      this.options.onLocal(name, false)
      this.options.presence.withdraw(name)
    }

    return true
  }

  known(name: string): boolean {
    return this.options.local.known(name) || this.options.presence.known(name)
  }

  list(): Array<[string, S]> {
    const local = this.options.local.list()
    const here = new Set(local.map(([name]) => name))
    const remote = this.options.presence.list().filter((entry) => !here.has(entry.node))
    return [...local, ...remote.map((entry): [string, S] => [entry.node, this.remoteOf(entry)])]
  }

  waitFor(name: string, timeoutMs?: number): Promise<S | undefined> {
    const now = this.get(name)
    if (now) return Promise.resolve(now)
    return Promise.race([
      this.options.local.waitFor(name, timeoutMs),
      this.options.presence.arrival(name, timeoutMs).then((entry) => entry && this.remoteOf(entry)),
    ])
  }

  async close(reason: string): Promise<void> {
    this.options.onClose?.()
    for (const name of this.claims.keys()) this.options.onLocal(name, false)
    this.claims.clear()
    await this.options.presence.close()
    await this.options.local.close(reason)
  }
}
