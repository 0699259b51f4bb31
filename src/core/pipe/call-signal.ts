// The signal of one request (SendOptions.signal) where the request's maker aborts it: the pipe gateway's
// request whose HTTP client goes away, a call served for another hub that its caller cancels. What the
// pipe session and the cluster use of an AbortSignal (`aborted`, 'abort' listeners), without one: an
// AbortController per request (its EventTarget, the listeners' bookkeeping and the GC of all of it) was a
// visible share of a hub's CPU per small event.
import type {CallSignal} from './event-types.js'

export class CallAbort implements CallSignal {
  aborted = false
  private listeners: Array<() => void> | undefined

  /** `onError`: a listener threw (the others are still called). */
  constructor(private readonly onError: (error: Error) => void) {}

  /** As AbortSignal's: a listener added once aborted is never called; each is called once. */
  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) (this.listeners ??= []).push(listener)
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.listeners?.indexOf(listener) ?? -1
    if (index >= 0) this.listeners!.splice(index, 1)
  }

  abort(): void {
    if (this.aborted) return
    this.aborted = true
    const listeners = this.listeners ?? []
    this.listeners = undefined
    for (const listener of listeners) {
      try {
        listener()
      } catch (error) {
        this.onError(error as Error)
      }
    }
  }
}
