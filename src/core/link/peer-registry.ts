// The peers connected to a listening side (tunnel gateway, pipe hub), by name. An interface, so that
// peers may also live elsewhere (a registry shared across machines) without the protocols changing;
// LocalPeerRegistry keeps them in this process.
import {type Clock, systemClock} from './clock.js'
import {CLOSE_GRACE_MS, type LinkSession} from './session.js'
import {settleWithin} from './streams.js'
import {Waiters} from './waiters.js'

export interface PeerRegistry<S extends LinkSession> {
  readonly size: number
  /** The session of a connected peer. */
  get(name: string): S | undefined
  /**
   * Registers `session` as `name`. The newest connection wins: an older session of that name is
   * closed with `replacedReason` and returned. After close(), the session is closed at once.
   */
  add(name: string, session: S, replacedReason: string): S | undefined
  /** Unregisters `session` if it is still `name`'s (false for one already replaced or removed). */
  remove(name: string, session: S): boolean
  /** Whether a peer of this name has connected since the registry started. */
  known(name: string): boolean
  /** The connected peers, in the order their names first connected. */
  list(): Array<[name: string, session: S]>
  /** `name`'s session once it is connected (at once if it is); undefined after timeoutMs, or when the registry closes. */
  waitFor(name: string, timeoutMs?: number): Promise<S | undefined>
  /** Closes every session with `reason` and destroys those not gone within the grace. Safe twice. */
  close(reason: string): Promise<void>
}

export interface LocalPeerRegistryOptions {
  /** How long close() lets sessions finish before destroying them. Default 1 s. */
  closeGraceMs?: number
  clock?: Clock
  /** How many names known() remembers (connected ones always); beyond it the longest gone is forgotten. */
  maxRemembered?: number
}

/**
 * Names a registry remembers by default. Each peer authenticated before it named itself, but one
 * credential could still connect under ever new names: the set must not grow without bound.
 */
export const DEFAULT_MAX_REMEMBERED_PEERS = 100_000

export class LocalPeerRegistry<S extends LinkSession> implements PeerRegistry<S> {
  private readonly peers = new Map<string, S>()
  private readonly seen = new Set<string>()
  private readonly waiters = new Map<string, Waiters<S>>()
  private readonly clock: Clock
  private closing: {reason: string; done: Promise<void>} | undefined

  constructor(private readonly options: LocalPeerRegistryOptions = {}) {
    this.clock = options.clock ?? systemClock
  }

  get size(): number {
    return this.peers.size
  }

  get(name: string): S | undefined {
    return this.peers.get(name)
  }

  add(name: string, session: S, replacedReason: string): S | undefined {
    if (this.closing) {
      session.close(this.closing.reason)
      return undefined
    }

    const previous = this.peers.get(name)
    this.peers.set(name, session)
    this.remember(name)
    previous?.close(replacedReason)
    this.waiters.get(name)?.wake(session)
    this.waiters.delete(name)
    return previous
  }

  remove(name: string, session: S): boolean {
    if (this.peers.get(name) !== session) return false
    this.peers.delete(name)
    return true
  }

  known(name: string): boolean {
    return this.seen.has(name)
  }

  /** Keeps the names in the order they last connected; over the bound, forgets the longest gone. */
  private remember(name: string): void {
    this.seen.delete(name)
    this.seen.add(name)
    if (this.seen.size <= (this.options.maxRemembered ?? DEFAULT_MAX_REMEMBERED_PEERS)) return
    for (const oldest of this.seen) {
      if (!this.peers.has(oldest)) {
        this.seen.delete(oldest)
        return
      }
    }
  }

  /** The names that have connected and are not connected now. */
  away(): string[] {
    return [...this.seen].filter((name) => !this.peers.has(name))
  }

  list(): Array<[string, S]> {
    return [...this.peers.entries()]
  }

  waitFor(name: string, timeoutMs?: number): Promise<S | undefined> {
    const session = this.peers.get(name)
    if (session || this.closing) return Promise.resolve(session)
    let waiters = this.waiters.get(name)
    if (!waiters) {
      waiters = new Waiters<S>(this.clock)
      this.waiters.set(name, waiters)
    }

    const waiting = waiters.wait(timeoutMs)
    // A wait that timed out leaves no empty list behind.
    void waiting.then(() => {
      if (this.waiters.get(name)?.size === 0) this.waiters.delete(name)
    })
    return waiting
  }

  close(reason: string): Promise<void> {
    if (this.closing) return this.closing.done
    const sessions = [...this.peers.values()]
    // Set first: a session that reconnects while the others close is closed at once.
    const closing = {done: Promise.resolve(), reason}
    this.closing = closing
    closing.done = (async () => {
      // Each session's own close handler may still remove() it: it is registered until this loop ends.
      for (const session of sessions) session.close(reason)
      this.peers.clear()
      for (const waiters of this.waiters.values()) waiters.wake(undefined)
      this.waiters.clear()
      const gone = await settleWithin(Promise.all(sessions.map((session) => session.closed)), this.options.closeGraceMs ?? CLOSE_GRACE_MS, this.clock)
      if (!gone) for (const session of sessions) session.destroy()
    })()
    return closing.done
  }
}
