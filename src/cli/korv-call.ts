// `korv call` glue: resolve the request (arguments, --data, prompts), connect, send, render.
import {formatHostPort} from '../core/address.js'
import {ERROR_CATALOGUE, RestwireError, isRestwireError} from '../core/errors.js'
import {KORV_VERBS, canonicalVerb} from '../core/korv/messages.js'
import type {OnTrace} from '../core/trace.js'
import {type CallEnvelope, errorDocument} from './envelope.js'
import {exitCodeForStatus} from './exit-codes.js'
import {type KorvCallOptions, type KorvRequester, callOnce, envelopeFor, targetOf, traceRequest, traceResponse} from './korv-answer.js'
import {connectOptions} from './korv-connect.js'
import {type PersistSocket, persistSocketFor, startPersistMaster, stopPersist, usePersisted} from './korv-persist.js'
import {writeStdout} from './output.js'
import {readPayload} from './payload.js'
import {withProgress} from './progress.js'
import {promptRequest} from './request-prompts.js'


export type {KorvCallOptions} from './korv-answer.js'

/** The --json result of `korv call`: the call envelope. */
export type KorvCallResult = CallEnvelope

export async function runKorvCall(options: KorvCallOptions): Promise<KorvCallResult | undefined> {
  const started = performance.now()
  // Loaded only with -v: a plain call's start-up does not pay for it.
  const trace = options.verbose ? (await import('./trace.js')).createTraceWriter() : undefined
  if (options.persist === 'stop') {
    await stopPersist(persistSocketFor(options), formatHostPort(options.host, options.port))
    return undefined
  }

  const request = options.batch ? undefined : await resolveRequest(options)
  const client = await connect(options, request ? `${request.verb} ${request.path}` : 'GET /', trace)
  const connectMs = performance.now() - started
  try {
    if (options.batch) {
      process.exitCode = await runBatch(client, options, trace)
      return undefined
    }

    return await callOnce(client, options, request!, {connectMs, started}, trace)
  } finally {
    await client.close()
  }
}

async function resolveRequest(options: KorvCallOptions): Promise<{verb: string; path: string; body: unknown}> {
  let {path, verb} = options
  let body = options.data ? await readPayload(options.data) : undefined
  if (options.interactive || verb === undefined || path === undefined) {
    const prompted = await promptRequest(KORV_VERBS, {body, path, verb: verb ? checkVerb(verb) : undefined}, 'restwire korv call GET /hello')
    ;({body, path, verb} = prompted)
  }

  if (!path!.startsWith('/')) throw new RestwireError('RW_ERR_USAGE', `PATH must start with /, got "${path}"`)
  return {body: body ?? null, path: path!, verb: checkVerb(verb!)}
}

function checkVerb(verb: string): string {
  const canonical = canonicalVerb(verb)
  if (!canonical) throw new RestwireError('RW_ERR_USAGE', `unknown verb "${verb}"; use one of ${KORV_VERBS.join(', ')}`)
  return canonical
}

/**
 * The target's persisted connection when one is live (no ssh2 loaded then); with --persist, one started
 * now; else a connection of this call's own. `retry` is the request to repeat in the command that
 * trusts an unknown host key.
 */
async function connect(options: KorvCallOptions, retry: string, trace: OnTrace | undefined): Promise<KorvRequester> {
  const socket = persistSocketFor(options)
  const persisted = await usePersistedTraced(socket, options, trace)
  if (persisted) return persisted
  const clientOptions = await connectOptions(options, retry, trace)
  if (typeof options.persist === 'number') {
    const address = formatHostPort(options.host, options.port)
    const pid = await withProgress(`connecting to ${address}`, startPersistMaster(socket, options.persist, clientOptions))
    trace?.('info', `Started the persisted connection (pid ${pid}, ends after ${options.persist} ms without calls)`)
    const started = await usePersistedTraced(socket, options, trace)
    if (!started) throw new RestwireError('RW_ERR_CONNECT', `the persisted connection to ${address} (pid ${pid}) went away at once`)
    return started
  }

  // Loaded only here: a call through a persisted connection never loads ssh2.
  const {KorvClient} = await import('../core/korv/client.js')
  // Tells bin/run.js that this run took the path of a call that connects itself: only such a run writes
  // the `connect` code caches (one that only started a master, or used one, compiled a part of it).
  ;(globalThis as Record<symbol, unknown>)[Symbol.for('restwire.connectedItself')] = true
  return withProgress(`connecting to ${formatHostPort(options.host, options.port)}`, KorvClient.connect(clientOptions))
}

async function usePersistedTraced(socket: PersistSocket, options: KorvCallOptions, trace: OnTrace | undefined): Promise<KorvRequester | undefined> {
  let client: KorvRequester & {masterPid: number} | undefined
  try {
    client = await usePersisted(socket, options.concurrency, options.connectTimeoutMs)
  } catch (error) {
    // A persist directory others can enter is never used; a call that did not ask for --persist goes on without it.
    if (options.persist !== undefined || !isRestwireError(error, 'RW_ERR_CONFIG')) throw error
    trace?.('info', `Not using persisted connections: ${error.message}`)
    return undefined
  }

  if (client) trace?.('info', `Using the persisted connection ${socket.socketPath} (pid ${client.masterPid})`)
  return client
}

/**
 * Sends every line of the batch over the one connection, up to `concurrency` in flight, and prints one
 * NDJSON line per answer as it completes. Returns the exit code: 0 when every answer was 2xx, else the
 * highest exit code among the lines (2 bad line, 7 timeout, 8 4xx, 9 5xx...).
 */
async function runBatch(client: KorvRequester, options: KorvCallOptions, trace: OnTrace | undefined): Promise<number> {
  // Loaded here, not at start-up: a single call does not need them.
  const [{createReadStream}, {createInterface}] = await Promise.all([import('node:fs'), import('node:readline')])
  const input = options.batch === '-' ? process.stdin : createReadStream(options.batch!)
  const lines = createInterface({crlfDelay: Infinity, input})
  const inFlight = new Set<Promise<void>>()
  let worst = 0
  let lineNumber = 0
  const note = (code: number): void => {
    if (code !== 0 && (worst === 0 || code > worst)) worst = code
  }

  try {
    for await (const line of lines) {
      lineNumber++
      if (line.trim() === '') continue
      const parsed = parseBatchLine(line, lineNumber)
      const batch = {id: parsed.id, line: lineNumber}
      if ('error' in parsed) {
        writeStdout(JSON.stringify(errorDocument(new RestwireError('RW_ERR_USAGE', `--batch line ${lineNumber}: ${parsed.error}`, {hint: BATCH_LINE_HINT}), {details: {requestId: null, batch}, protocol: 'korv'})))
        note(ERROR_CATALOGUE.RW_ERR_USAGE.exitCode)
        continue
      }

      traceRequest(trace, parsed.verb, parsed.path, parsed.body, parsed.id)
      const task = client.request(parsed.verb, parsed.path, parsed.body, {timeoutMs: options.timeoutMs}).then(
        (response) => {
          traceResponse(trace, response)
          note(exitCodeForStatus(response.status))
          writeStdout(JSON.stringify(envelopeFor(options, parsed, response, {responseMs: response.durationMs, totalMs: response.durationMs}, batch)))
        },
        (error: unknown) => {
          const rw = isRestwireError(error) ? error : new RestwireError('RW_ERR_INTERNAL', String(error))
          note(rw.exitCode)
          writeStdout(JSON.stringify(errorDocument(rw, {details: {requestId: null, batch}, protocol: 'korv', target: targetOf(options, parsed)})))
        },
      )
      inFlight.add(task)
      void task.finally(() => inFlight.delete(task))
      if (inFlight.size >= options.concurrency) await Promise.race(inFlight)
    }
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `cannot read --batch ${options.batch}: ${(error as Error).message}`, {cause: error})
  }

  await Promise.all(inFlight)
  return worst
}

const BATCH_LINE_HINT = 'Each line is one JSON object: {"verb": "GET", "path": "/hello", "body": ..., "id": ...}.'

type BatchLine = {id: unknown; verb: string; path: string; body: unknown} | {id: unknown; error: string}

function parseBatchLine(line: string, lineNumber: number): BatchLine {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    return {error: `not valid JSON: ${(error as Error).message}`, id: lineNumber}
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {error: 'not a JSON object', id: lineNumber}
  const record = value as Record<string, unknown>
  const id = record.id ?? lineNumber
  const path = record.path ?? record.resource
  const verb = typeof record.verb === 'string' ? canonicalVerb(record.verb) : undefined
  if (!verb) return {error: `missing or unknown "verb"; use one of ${KORV_VERBS.join(', ')}`, id}
  if (typeof path !== 'string' || !path.startsWith('/')) return {error: 'missing "path" (starting with /)', id}
  return {body: record.body ?? null, id, path, verb}
}

