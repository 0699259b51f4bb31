// Calls in flight between hubs fail at once when the other hub dies: while any call involves a hub,
// it is pinged every PROBE_MS (a dead hub's subscriptions vanish with its connection, so the ping finds
// no responders at once); a hub that says goodbye, stops beating, or NATS itself being lost fails them too.
import {PeerGoneError, RestwireError} from '../errors.js'
import {PROBE_MS} from './presence.js'

type Fail = (error: RestwireError) => void

export class HubWatch {
  private readonly watched = new Map<string, Set<Fail>>()
  private readonly probing = new Set<string>()
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly alive: (hubId: string) => Promise<boolean>) {}

  /** Calls `fail` once if `hubId` goes; returns the unwatch. */
  watch(hubId: string, fail: Fail): () => void {
    let fails = this.watched.get(hubId)
    if (!fails) this.watched.set(hubId, (fails = new Set()))
    fails.add(fail)
    this.timer ??= setInterval(() => this.probe(), PROBE_MS)
    return () => {
      fails.delete(fail)
      if (fails.size === 0 && this.watched.get(hubId) === fails) this.watched.delete(hubId)
      if (this.watched.size === 0) this.stop()
    }
  }

  gone(hubId: string, why: string): void {
    const fails = this.watched.get(hubId)
    if (!fails) return
    this.watched.delete(hubId)
    const error = new PeerGoneError(why, {status: 503})
    for (const fail of fails) fail(error)
    if (this.watched.size === 0) this.stop()
  }

  all(why: string): void {
    for (const hubId of [...this.watched.keys()]) this.gone(hubId, why)
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private probe(): void {
    for (const hubId of this.watched.keys()) {
      if (this.probing.has(hubId)) continue
      this.probing.add(hubId)
      void this.alive(hubId).then((up) => {
        this.probing.delete(hubId)
        if (!up) this.gone(hubId, 'the hub holding the node is gone')
      })
    }
  }
}
