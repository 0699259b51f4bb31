// The second half of `korv call`'s persisted fast path (korv-call-persisted-entry.ts), loaded only when
// the target's socket exists: the body, a channel through the master, the request, and what it prints
// (cli/korv-answer.ts and the error rendering of BaseCommand.catch, so the same as the full command).
import type {PersistSocket} from '../core/korv/persist-socket.js'
import {callOnce} from './korv-answer.js'
import type {SimpleKorvCall} from './korv-call-argv.js'
import {printCallError} from './korv-call-error.js'
import {usePersisted} from './korv-persist.js'
import {configureColor, formatJson, writeStdout} from './output.js'
import {readPayload} from './payload.js'

/**
 * Sends the call through the master on `socket`; false, with nothing sent or printed, when the body
 * cannot be read or the master is not there (or will not take it): the full command then runs the call.
 */
export async function callThroughPersisted(options: SimpleKorvCall & {verb: string}, socket: PersistSocket, times: {started: number; bin: string}): Promise<boolean> {
  let body: unknown
  let client: Awaited<ReturnType<typeof usePersisted>>
  try {
    body = await readPayload(options.data)
    client = await usePersisted(socket, options.concurrency)
  } catch {
    return false
  }

  if (!client) return false
  // From here on the request is sent: whatever happens is this call's outcome, printed as the command would.
  configureColor(options.color)
  try {
    const envelope = await callOnce(client, options, {body, path: options.path, verb: options.verb}, {connectMs: performance.now() - times.started, started: times.started})
    await client.close()
    if (envelope) writeStdout(formatJson(envelope))
  } catch (error) {
    await client.close()
    printCallError(error as Error, options.json, times.bin)
  }

  return true
}
