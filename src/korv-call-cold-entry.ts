// The cold fast path of `restwire korv call`, bundled into dist/korv-call-cold.cjs (scripts/bundle.mjs):
// a plain call (cli/korv-call-argv.ts) whose target has no persisted connection connects itself here,
// without oclif and the rest of the CLI in the file V8 reads. The persisted fast path
// (korv-call-persisted-entry.ts) parses the arguments, reads the body and starts the TCP connection,
// then hands the call over (bin/run.js loads this bundle then): the server's side of the TCP handshake
// and its SSH version line happen while this bundle, the keys and ssh2 load. The rest is the full
// command's: the same keys, host key policy and known_hosts (cli/korv-connect.ts), the same KorvClient,
// the same request, output and errors (cli/korv-answer.ts, cli/korv-call-error.ts).
import type {Socket} from 'node:net'
import {formatHostPort} from './core/address.js'
import {callOnce} from './cli/korv-answer.js'
import type {SimpleKorvCall} from './cli/korv-call-argv.js'
import {printCallError} from './cli/korv-call-error.js'
import {connectOptions} from './cli/korv-connect.js'
import {configureColor, formatJson, writeStdout} from './cli/output.js'
import {withProgress} from './cli/progress.js'

/** A plain call to a target without a persisted connection, as the persisted fast path hands it over. */
export interface ColdKorvCall {
  options: SimpleKorvCall & {verb: string}
  body: unknown
  /** The TCP connection to the server, already started (connecting or connected), or none. */
  socket?: Socket
  /** performance.now() when the call began. */
  started: number
  bin: string
}

/** Runs the call over a connection of its own and prints what the full command prints. */
export async function runColdKorvCall(call: ColdKorvCall): Promise<void> {
  const {body, options, started} = call
  let socket = call.socket
  configureColor(options.color)
  try {
    const clientOptions = await connectOptions(options, `${options.verb} ${options.path}`, undefined)
    const {KorvClient} = await import('./core/korv/client.js')
    // Tells bin/run.js that this run connected itself: it writes the `connect` code caches.
    ;(globalThis as Record<symbol, unknown>)[Symbol.for('restwire.connectedItself')] = true
    // A socket that already failed is left alone: ssh2 dials anew and reports the failure as always.
    const early = socket && !socket.destroyed ? socket : undefined
    socket = undefined
    const connect = early ? () => Promise.resolve(early) : undefined
    const client = await withProgress(`connecting to ${formatHostPort(options.host, options.port)}`, KorvClient.connect({...clientOptions, connect}))
    const connectMs = performance.now() - started
    let envelope
    try {
      envelope = await callOnce(client, options, {body, path: options.path, verb: options.verb}, {connectMs, started})
    } finally {
      // Not the server's side of the close: the process exits next (bin/run.js), and the server ends
      // the connection when it reads this side's disconnect.
      await client.end()
    }

    if (envelope) writeStdout(formatJson(envelope))
  } catch (error) {
    printCallError(error as Error, options.json, call.bin)
  } finally {
    // Not handed to the SSH client (its keys could not be read): closed, or it would hold the process.
    socket?.destroy()
  }
}
