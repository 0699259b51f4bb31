// Bounds on connections that have not authenticated yet, like OpenSSH's LoginGraceTime and
// MaxStartups: each must authenticate within its grace time or is destroyed, and past the cap new
// connections are refused at once. Authenticated peers never count, so they are always served.
import type {Socket} from 'node:net'

export const DEFAULT_LOGIN_GRACE_MS = 30_000
export const DEFAULT_MAX_STARTUPS = 100

export type StartupRefusal = 'cap' | 'grace'

export interface StartupGateOptions {
  /** Time from the TCP accept to authentication. */
  graceMs?: number
  /** Connections allowed to be authenticating at once; the excess is destroyed on accept. */
  maxStartups?: number
  /** Told about every connection the gate closes (for logs and metrics). */
  onRefused?: (reason: StartupRefusal, socket: Socket) => void
}

export interface StartupTicket {
  /** The peer authenticated: stop its grace timer and free its place. Safe to call twice. */
  authenticated(): void
}

export class StartupGate {
  readonly graceMs: number
  readonly maxStartups: number
  private authenticating = 0

  constructor(private readonly options: StartupGateOptions = {}) {
    this.graceMs = options.graceMs ?? DEFAULT_LOGIN_GRACE_MS
    this.maxStartups = options.maxStartups ?? DEFAULT_MAX_STARTUPS
  }

  /** Connections accepted and not yet authenticated. */
  get pending(): number {
    return this.authenticating
  }

  /** Admits a freshly accepted socket, or destroys it and returns undefined when the cap is reached. */
  admit(socket: Socket): StartupTicket | undefined {
    socket.on('error', () => {})
    if (this.authenticating >= this.maxStartups) {
      this.options.onRefused?.('cap', socket)
      socket.destroy()
      return undefined
    }

    this.authenticating++
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.authenticating--
      clearTimeout(timer)
      socket.off('close', release)
    }
    const timer = setTimeout(() => {
      release()
      this.options.onRefused?.('grace', socket)
      socket.destroy()
    }, this.graceMs)
    timer.unref()
    socket.once('close', release)
    return {authenticated: release}
  }
}
