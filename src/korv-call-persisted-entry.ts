// The fastest path of `restwire korv call`, bundled into dist/korv-call-persisted.cjs (scripts/bundle.mjs):
// a plain call (cli/korv-call-argv.ts) to a target whose persisted connection is live runs here, without
// oclif, ssh2 or the rest of the CLI in the file V8 reads. bin/run.js tries it first; when it returns
// false (another form of the call, a named target in play, no live master, a body it cannot read)
// nothing has been sent or printed, and the full command (korv-call-entry.ts) runs the call as always.
// What a cold call pays for trying: the argument parse and one stat; net and the output code load
// only when the target's socket exists (cli/korv-persisted-call.ts).
import {existsSync} from 'node:fs'
import type * as Net from 'node:net'
import type {Socket} from 'node:net'
import {readPayload} from './cli/payload.js'
import type {ColdKorvCall} from './korv-call-cold-entry.js'
import {restwireHome} from './core/home.js'
import {canonicalVerb} from './core/korv/messages.js'
import {persistSocketFor} from './core/korv/persist-socket.js'
import {TARGET_ENV_VARIABLE, targetsConfigExists, targetsConfigPath} from './core/targets.js'
import {parseSimpleKorvCall} from './cli/korv-call-argv.js'

declare const RESTWIRE_PACKAGE: {name: string; version: string; bin: string}

/**
 * Runs `korv call ARGV...` through a live persisted connection; false (and nothing done) when it does not
 * apply. With `cold`, a plain call to a target without a socket (and without --persist) is handed to it
 * instead, with its body read and its TCP connection started (korv-call-cold-entry.ts), and taken.
 */
export async function runPersistedKorvCall(argv: string[], env: NodeJS.ProcessEnv = process.env, cold?: (call: ColdKorvCall) => Promise<void>): Promise<boolean> {
  const started = performance.now()
  const options = parseSimpleKorvCall(argv)
  if (!options) return false
  // A named target may fill any flag, and RESTWIRE_CONTENT_TYPE=json turns --json on: the full command reads them.
  const envPrefix = RESTWIRE_PACKAGE.bin.toUpperCase().replaceAll('-', '_')
  if (env[TARGET_ENV_VARIABLE] !== undefined || env[`${envPrefix}_CONTENT_TYPE`] !== undefined) return false
  const verb = canonicalVerb(options.verb)
  if (!verb || !options.path.startsWith('/')) return false
  // Synchronous checks first: a call that does not apply returns without an event loop turn.
  let socket: ReturnType<typeof persistSocketFor>
  let live: boolean
  try {
    socket = persistSocketFor(options)
    live = existsSync(socket.socketPath)
    if (!live && (!cold || options.persist !== undefined)) return false
    if (await targetsConfigExists(targetsConfigPath(restwireHome(env)))) return false
  } catch {
    return false
  }

  if (live) {
    const {callThroughPersisted} = await import('./cli/korv-persisted-call.js')
    return callThroughPersisted({...options, verb}, socket, {bin: RESTWIRE_PACKAGE.bin, started})
  }

  // A body that cannot be read is the full command's to report; nothing is sent before it is read.
  let body: unknown
  try {
    body = await readPayload(options.data)
  } catch {
    return false
  }

  const tcp = dial(options.host, options.port)
  // net issues the connect of a numeric address in a process.nextTick; this tick comes after it, so the
  // connect is on its way before the cold bundle, the keys and ssh2 load (synchronous, 10-20 ms).
  await new Promise<void>((resolve) => process.nextTick(resolve))
  await cold!({bin: RESTWIRE_PACKAGE.bin, body, options: {...options, verb}, socket: tcp, started})
  return true
}

/**
 * Starts the TCP connection to the server now, so that its handshake and the server's first SSH bytes
 * overlap the loading of the keys and ssh2. A failure is kept for the SSH client to find
 * (korv-call-cold-entry.ts dials anew then, and reports what that dial meets).
 */
function dial(host: string, port: number): Socket {
  const {createConnection} = process.getBuiltinModule('node:net') as typeof Net
  const socket = createConnection({host, port})
  socket.on('error', () => {})
  return socket
}
