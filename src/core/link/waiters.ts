// Callers waiting for something that may happen later (a connection, a peer by name), each with its
// own optional deadline; one wake() releases them all.
import {type Clock, systemClock} from './clock.js'

export class Waiters<T> {
  private readonly pending = new Set<(value: T | undefined) => void>()

  constructor(private readonly clock: Clock = systemClock) {}

  get size(): number {
    return this.pending.size
  }

  /** Resolves with what the next wake() passes, or undefined after timeoutMs (never, without it). */
  wait(timeoutMs?: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const release = (value: T | undefined): void => {
        cancel?.()
        this.pending.delete(release)
        resolve(value)
      }

      const cancel = timeoutMs === undefined ? undefined : this.clock.after(timeoutMs, () => release(undefined))
      this.pending.add(release)
    })
  }

  wake(value?: T): void {
    for (const release of [...this.pending]) release(value)
  }
}
