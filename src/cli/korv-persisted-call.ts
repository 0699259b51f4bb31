// The second half of `korv call`'s persisted fast path (korv-call-persisted-entry.ts), loaded only when
// the target's socket exists: the body, a channel through the master, the request, and what it prints
// (cli/korv-answer.ts and the error rendering of BaseCommand.catch, so the same as the full command).
import {isRestwireError} from '../core/errors.js'
import type {PersistSocket} from '../core/korv/persist-socket.js'
import {type PersistedOpen, openPersisted} from '../core/korv/persist-client.js'
import {type KorvRequester, callOnce} from './korv-answer.js'
import type {SimpleKorvCall} from './korv-call-argv.js'
import {printCallError} from './korv-call-error.js'
import {configureColor, formatJson, writeStdout} from './output.js'
import {readPayload} from './payload.js'

/**
 * Sends the call through the master on `socket`; false, with nothing sent to the server or printed, when
 * the body cannot be read or the master is not there (or will not take it): the full command then runs
 * the call.
 */
export async function callThroughPersisted(options: SimpleKorvCall & {verb: string}, socket: PersistSocket, times: {started: number; bin: string}): Promise<boolean> {
  let body: unknown
  let opened: PersistedOpen
  try {
    body = await readPayload(options.data)
    // The request goes with the hello (one round trip to the master less); the master passes it on only
    // once it has a channel for it, so `absent` or an error here means it went nowhere.
    const first = {body, resource: options.path, timeoutMs: options.timeoutMs, verb: options.verb}
    opened = await openPersisted(socket.socketPath, socket.key, {connectTimeoutMs: options.connectTimeoutMs, first, maxInFlight: options.concurrency})
  } catch (error) {
    // A master that never answered is this call's outcome: the full command would only wait on it again.
    if (!isRestwireError(error, 'RW_ERR_TIMEOUT')) return false
    configureColor(options.color)
    printCallError(error, options.json, times.bin)
    return true
  }

  if (opened.state !== 'open') return false
  // From here on the request is sent: whatever happens is this call's outcome, printed as the command would.
  const {client, response} = opened
  // callOnce's request is the one already sent (the same verb, path, body and timeout).
  const sent: KorvRequester = {close: () => client.close(), request: () => response!}
  configureColor(options.color)
  // The process exits once this returns (bin/run.js): the socket closes with it.
  try {
    const envelope = await callOnce(sent, options, {body, path: options.path, verb: options.verb}, {connectMs: performance.now() - times.started, started: times.started})
    client.release()
    if (envelope) writeStdout(formatJson(envelope))
  } catch (error) {
    client.release()
    printCallError(error as Error, options.json, times.bin)
  }

  return true
}
