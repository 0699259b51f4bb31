// Waits on streams and on work with a deadline, shared by the tunnel, the pipe and the relay.
import type {EventEmitter} from 'node:events'
import {type Clock, systemClock} from './clock.js'

type Watched = Pick<EventEmitter, 'on' | 'off'>

/**
 * Resolves true on the stream's 'drain', or on its 'close' (the reader is gone: nothing left to wait
 * for); false once `timeoutMs` passed first. Without timeoutMs it waits as long as the stream lives.
 * For a stream whose write() returned false: one already closed never emits 'close' again.
 */
export function drained(stream: Watched, options: {timeoutMs?: number; clock?: Clock} = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (result: boolean): void => {
      cancel?.()
      stream.off('drain', onDrain)
      stream.off('close', onDrain)
      resolve(result)
    }

    const onDrain = (): void => done(true)
    const cancel = options.timeoutMs === undefined ? undefined : (options.clock ?? systemClock).after(options.timeoutMs, () => done(false))
    stream.on('drain', onDrain)
    stream.on('close', onDrain)
  })
}

/** true once `work` settles (either way), false when `ms` pass first. */
export function settleWithin(work: Promise<unknown>, ms: number, clock: Clock = systemClock): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = clock.after(ms, () => resolve(false))
    const settled = (): void => {
      cancel()
      resolve(true)
    }

    work.then(settled, settled)
  })
}

interface Ending extends Watched {
  end(): unknown
  end(chunk: Buffer): unknown
  destroy(): unknown
  once(event: 'close', listener: () => void): unknown
}

/** Ends the stream (after `last`, a final frame) and destroys it if the peer has not finished the close within graceMs. */
export function endWithin(stream: Ending, graceMs: number, options: {last?: Buffer; clock?: Clock} = {}): void {
  if (options.last) stream.end(options.last)
  else stream.end()
  const cancel = (options.clock ?? systemClock).after(graceMs, () => stream.destroy(), {unref: true})
  stream.once('close', cancel)
}
