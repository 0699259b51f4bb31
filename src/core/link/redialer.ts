// Keeps one outgoing connection up for the nodes that dial out (tunnel node, pipe node): dial, bound
// the handshake, wait for the end, back off with jitter (reset after a stable connection) and dial
// again, until stop(). What a connection is and says is the protocol's: it comes back from dial().
//
// Several targets (hubs or gateways that act as one): the first dial goes to a random one, so that many
// nodes spread over them; a dial that fails, or a connection that ends, moves on to the next (wrapping
// around) at once. The backoff counts full rounds: only when every target has been tried since the last
// stable connection does the node wait, then start the next round. With one target a round is one dial,
// which is the single-target rule as it was.
import {type BackoffOptions, STABLE_CONNECTION_MS, nextBackoffMs} from '../backoff.js'
import {type Clock, systemClock} from './clock.js'
import {CLOSE_GRACE_MS, type DialedSession, type LinkEnd} from './session.js'

export type RedialEvent<T = unknown> =
  | {type: 'connecting'; attempt: number; target: T}
  | {type: 'disconnected'; reason: string; code?: string}
  | {type: 'retrying'; delayMs: number; attempt: number; code?: string}

export interface RedialerOptions<S extends DialedSession, T> {
  /** What can be dialled (hubs, gateways), at least one; each dial takes one, in turn from a random start. */
  targets: readonly T[]
  /** One dial: resolves once the transport is up (the handshake may still run); rejects when it could not connect. */
  dial(target: T, attempt: number, signal: AbortSignal): Promise<S>
  /** A failed dial in the log's words (and its errno). */
  dialFailed(error: unknown, target: T): Required<Pick<LinkEnd, 'reason'>> & LinkEnd
  /** The end of a connection that gave no reason: `stopped` when this side closed it. */
  closedReason(stopped: boolean): string
  /** From the dial to `ready`; then the connection is destroyed with handshakeTimeoutReason. */
  handshakeTimeoutMs: number
  handshakeTimeoutReason(target: T): string
  /** What the connection is told on stop(); it is destroyed if not gone within closeGraceMs (default 1 s). */
  stopReason: string
  closeGraceMs?: number
  backoff?: BackoffOptions
  /** A connection that stayed up this long starts the backoff over. Default STABLE_CONNECTION_MS. */
  stableMs?: number
  /**
   * Stop after the first connection that finished its handshake ends, or after a round in which none
   * did (with one target: after the first connection ends or fails). No backoff wait.
   */
  once?: boolean
  clock?: Clock
  /** In [0, 1): the jitter of the backoff and the first target. Default Math.random. */
  random?: () => number
  onEvent?: (event: RedialEvent<T>) => void
}

export class Redialer<S extends DialedSession, T = undefined> {
  /** Resolves when redialling has stopped (after stop(), or when a `once` connection ended). */
  readonly done: Promise<void>
  private readonly clock: Clock
  private readonly abort = new AbortController()
  private stopped = false
  private session: S | undefined
  private sessionTarget: T | undefined
  private endBackoff: (() => void) | undefined
  private stopping: Promise<void> | undefined
  private readonly stopSignalled = new Promise<undefined>((resolve) => this.abort.signal.addEventListener('abort', () => resolve(undefined), {once: true}))

  constructor(private readonly options: RedialerOptions<S, T>) {
    // A programming error, not a user's: the commands require at least one --to.
    if (options.targets.length === 0) throw new TypeError('Redialer needs at least one target')
    this.clock = options.clock ?? systemClock
    this.done = this.loop()
  }

  /** The connection now up (or in its handshake), if any. */
  get current(): S | undefined {
    return this.session
  }

  /** The target of the current connection, if any. */
  get currentTarget(): T | undefined {
    return this.sessionTarget
  }

  get isStopped(): boolean {
    return this.stopped
  }

  /** Ends a backoff wait now and dials at once; nothing while a connection is up or being made. */
  wakeNow(): void {
    this.endBackoff?.()
  }

  /** Stops redialling and closes the current connection (destroyed after the grace). Safe twice. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private emit(event: RedialEvent<T>): void {
    this.options.onEvent?.(event)
  }

  private async loop(): Promise<void> {
    const {targets} = this.options
    const random = this.options.random ?? Math.random
    let index = Math.min(Math.floor(random() * targets.length), targets.length - 1)
    // attempt: dials since the last stable connection; round: full rounds of the targets that failed;
    // triedInRound: targets tried in the round under way.
    let attempt = 0
    let round = 0
    let triedInRound = 0
    while (!this.stopped) {
      attempt++
      const started = this.clock.now()
      const {code, ready, reason} = await this.connectOnce(targets[index]!, attempt)
      this.emit({code, reason, type: 'disconnected'})
      if (this.stopped || (this.options.once && (ready || triedInRound + 1 >= targets.length))) break
      index = (index + 1) % targets.length
      // A connection that stayed up a while was healthy: start the backoff over.
      if (this.clock.now() - started >= (this.options.stableMs ?? STABLE_CONNECTION_MS)) {
        attempt = 1
        round = 0
        triedInRound = 0
      }

      if (++triedInRound < targets.length) continue
      triedInRound = 0
      round++
      const delayMs = nextBackoffMs(round, this.options.backoff, random)
      this.emit({attempt, code, delayMs, type: 'retrying'})
      await new Promise<void>((resolve) => {
        const cancel = this.clock.after(delayMs, () => this.endBackoff?.())
        this.endBackoff = () => {
          cancel()
          this.endBackoff = undefined
          resolve()
        }
      })
    }

    this.stopped = true
  }

  /** One connection from dial to close; resolves with why it ended, and whether its handshake finished. */
  private async connectOnce(target: T, attempt: number): Promise<{reason: string; code?: string; ready?: boolean}> {
    this.emit({attempt, target, type: 'connecting'})
    let session: S | undefined
    const dialing = this.options.dial(target, attempt, this.abort.signal)
    try {
      // stop() does not wait for a dial that ignores the signal: what it still returns is destroyed.
      session = await Promise.race([dialing, this.stopSignalled])
    } catch (error) {
      if (this.stopped) return {reason: this.options.closedReason(true)}
      return this.options.dialFailed(error, target)
    }

    if (this.stopped || !session) {
      dialing.then((late) => late.destroy(), () => {})
      return {reason: this.options.closedReason(true)}
    }

    this.session = session
    this.sessionTarget = target
    const {handshakeTimeoutMs} = this.options
    const cancelHandshake = this.clock.after(handshakeTimeoutMs, () => session.destroy(this.options.handshakeTimeoutReason(target)))
    let ready = false
    session.ready.then(() => {
      ready = true
      cancelHandshake()
    }, () => {})
    const end = await session.closed
    cancelHandshake()
    if (this.session === session) {
      this.session = undefined
      this.sessionTarget = undefined
    }
    return {code: end.code, ready, reason: end.reason ?? this.options.closedReason(this.stopped)}
  }

  private async shutdown(): Promise<void> {
    this.stopped = true
    this.abort.abort()
    this.endBackoff?.()
    const session = this.session
    if (session) {
      session.close(this.options.stopReason)
      // A peer that never answers the close must not hold stop() up.
      const cancel = this.clock.after(this.options.closeGraceMs ?? CLOSE_GRACE_MS, () => session.destroy(), {unref: true})
      void session.closed.then(cancel)
    }

    await this.done
  }
}
