// The timeouts of one route's calls without a timer per call: every call of a route has the same timeout,
// so deadlines come in the order the calls start and a linked list (through the RelayCall objects) keeps
// them sorted for free. One timer waits for the earliest deadline; a call that ends is unlinked (O(1)).
// When the timer fires, every call whose deadline has passed is cancelled ('timeout') and the timer is
// set for the next one. The timer is unref'd: in-flight calls keep the process alive by their sockets
// (and a backoff by its own timer), as before.
import type {RelayCall} from './exchange.js'

export class Deadlines {
  private head: RelayCall | undefined
  private tail: RelayCall | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly timeoutMs: number) {}

  /** Starts the call's timeout now. */
  add(call: RelayCall): void {
    call.deadline = performance.now() + this.timeoutMs
    call.prevDeadline = this.tail
    call.nextDeadline = undefined
    if (this.tail) this.tail.nextDeadline = call
    else this.head = call
    this.tail = call
    call.timed = true
    // A timer already set fires at or before this deadline (deadlines only grow), and then re-arms.
    if (this.timer === undefined) this.arm(call.deadline)
  }

  /** The call ended (answered, failed or cancelled): its timeout no longer applies. */
  remove(call: RelayCall): void {
    if (!call.timed) return
    call.timed = false
    const {nextDeadline: next, prevDeadline: previous} = call
    if (previous) previous.nextDeadline = next
    else this.head = next
    if (next) next.prevDeadline = previous
    else this.tail = previous
    call.prevDeadline = undefined
    call.nextDeadline = undefined
  }

  /** Calls waiting for their deadline (tests). */
  get size(): number {
    let count = 0
    for (let call = this.head; call; call = call.nextDeadline) count++
    return count
  }

  private arm(at: number): void {
    // Node's timers count whole milliseconds of loop time: a timer may fire a fraction early, then re-arms.
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(at - performance.now())))
    this.timer.unref()
  }

  private readonly fire = (): void => {
    this.timer = undefined
    const now = performance.now()
    while (this.head !== undefined && this.head.deadline <= now) {
      const call = this.head
      this.remove(call)
      call.cancel('timeout')
    }

    if (this.head !== undefined) this.arm(this.head.deadline)
  }
}
