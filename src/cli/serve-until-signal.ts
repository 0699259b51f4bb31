// The servers' stop signal: the first SIGINT or SIGTERM asks for a graceful stop (each server drains in its
// own way); a second one while it stops exits at once with 130, as a shell does for Ctrl-C.
import {ERROR_CATALOGUE} from '../core/errors.js'

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const

/**
 * Resolves with the first SIGINT or SIGTERM. Call it before saying "listening": a supervisor may signal as
 * soon as it reads that. The exit-at-once handler is installed in the same tick as the first signal, so no
 * second signal can fall between the two and kill the process with no exit code.
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const first = (signal: NodeJS.Signals): void => {
      for (const name of STOP_SIGNALS) {
        process.off(name, first)
        process.once(name, exitInterrupted)
      }

      resolve(signal)
    }

    for (const name of STOP_SIGNALS) process.on(name, first)
  })
}

function exitInterrupted(): never {
  process.exit(ERROR_CATALOGUE.RW_ERR_INTERRUPTED.exitCode)
}
