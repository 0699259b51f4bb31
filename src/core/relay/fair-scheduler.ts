// The relay's global limit on upstream requests in flight, shared fairly between connections. Each
// connection queues its own requests; a free slot goes to the next connection in turn (round robin),
// so a client with thousands of requests waiting delays another client by about one request, not by
// its whole queue (a single first-come-first-served queue let one greedy client stall the rest).
// A connection that cannot take more replies (a client that does not read) is skipped until it can, and
// one connection runs at most `perConnection` requests at once: the replies it can have in flight when
// its client stops reading are bounded too.

/** One connection's place in the scheduler. */
export class SlotQueue {
  /** Requests of this connection waiting for a slot, in arrival order. */
  readonly waiting: Array<() => void> = []
  /** Skipped while set: its unsent replies are above the high-water mark. */
  blocked = false
  /** In the scheduler's ring (it has waiting requests and is not blocked). */
  inRing = false
  /** Its requests running now. */
  active = 0
}

export class FairScheduler {
  private active = 0
  /** Connections with waiting requests, served one request each in turn. */
  private readonly ring: SlotQueue[] = []

  constructor(
    private limit: number,
    private perConnection = limit,
  ) {}

  /** Upstream requests running now. */
  get running(): number {
    return this.active
  }

  /** A reload may change the limits; higher ones let waiting requests start now. */
  setLimit(limit: number, perConnection = limit): void {
    this.limit = limit
    this.perConnection = perConnection
    this.dispatch()
  }

  /** undefined when the request may start now (no promise on the fast path), else a promise resolved at its turn. */
  acquire(queue: SlotQueue): Promise<void> | undefined {
    if (this.active < this.limit && queue.active < this.perConnection && !queue.blocked && queue.waiting.length === 0) {
      this.active++
      queue.active++
      return undefined
    }

    return new Promise((resolve) => {
      queue.waiting.push(resolve)
      this.enter(queue)
    })
  }

  release(queue: SlotQueue): void {
    this.active--
    queue.active--
    this.enter(queue)
    this.dispatch()
  }

  /** Stops (or resumes) handing slots to a connection; its requests keep their place in its queue. */
  setBlocked(queue: SlotQueue, blocked: boolean): void {
    if (queue.blocked === blocked) return
    queue.blocked = blocked
    if (blocked) {
      if (queue.inRing) {
        this.ring.splice(this.ring.indexOf(queue), 1)
        queue.inRing = false
      }

      return
    }

    this.enter(queue)
    this.dispatch()
  }

  private enter(queue: SlotQueue): void {
    if (queue.inRing || queue.blocked || queue.waiting.length === 0 || queue.active >= this.perConnection) return
    queue.inRing = true
    this.ring.push(queue)
  }

  private dispatch(): void {
    // After a reload lowered the limit, finished slots are not handed on until under it.
    while (this.active < this.limit && this.ring.length > 0) {
      const queue = this.ring.shift()!
      const start = queue.waiting.shift()!
      this.active++
      queue.active++
      if (queue.waiting.length > 0 && queue.active < this.perConnection) this.ring.push(queue)
      else queue.inRing = false
      start()
    }
  }
}
