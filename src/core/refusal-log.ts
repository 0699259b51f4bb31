// Connections refused on accept (a cap reached), reported as counts: the first refusal at once, then at
// most one report per period with the refusals since the last, so a flood is a few log lines and no
// refusal goes uncounted (a count still pending is reported when its period ends, or at close()).

/** A flood of refusals is reported at most this often, so that it does not flood the log too. */
export const REFUSED_LOG_EVERY_MS = 10_000

export interface RefusalLog {
  /** One more refused connection. */
  add(): void
  /** Every refusal so far. */
  readonly total: number
  /** Reports what is pending and stops the period's timer. */
  close(): void
}

export function createRefusalLog(report: (refused: number) => void, everyMs = REFUSED_LOG_EVERY_MS): RefusalLog {
  let pending = 0
  let total = 0
  let timer: NodeJS.Timeout | undefined
  const flush = (): void => {
    if (pending > 0) {
      const refused = pending
      pending = 0
      report(refused)
    }
  }

  // A period ends: what came in it is reported, and a new period starts only if there was any.
  const tick = (): void => {
    timer = pending > 0 ? setTimeout(tick, everyMs).unref() : undefined
    flush()
  }

  return {
    add() {
      total++
      pending++
      if (timer === undefined) tick()
    },
    close() {
      clearTimeout(timer)
      timer = undefined
      flush()
    },
    get total() {
      return total
    },
  }
}
