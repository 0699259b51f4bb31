// Waiting in tests without fixed sleeps: every wait has a deadline and, when it runs out, fails with a
// message naming what it waited for (a sleep that is too short is flaky, one that is too long is slow).
import type {EventEmitter} from 'node:events'

/** What a truthy value of `T` can be: `waitFor` resolves only with one. */
type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>

/** How often `waitFor` polls: short, so a met condition costs a few ms, not a sleep's worth. */
const POLL_MS = 5

/**
 * Resolves with `condition()`'s value as soon as it is truthy (polled every few ms); rejects after `ms`
 * with an error naming `what` (by default the condition's own source text, `() => node.inFlight() === 0`).
 */
export async function waitFor<T>(condition: () => T | Promise<T>, ms: number, what: string = String(condition)): Promise<Truthy<T>> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await condition()
    if (value) return value as Truthy<T>
    if (Date.now() >= deadline) throw new Error(`waited ${ms} ms for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

/** Resolves with the arguments of `emitter`'s next `event`; rejects after `ms` naming the event. */
export function waitForEvent(emitter: EventEmitter, event: string, ms: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener)
      reject(new Error(`waited ${ms} ms for a '${event}' event`))
    }, ms)
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer)
      resolve(args)
    }
    emitter.once(event, listener)
  })
}
