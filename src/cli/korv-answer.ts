// One `korv call` request and what it prints: shared by the full command (cli/korv-call.ts) and the
// persisted fast path (korv-call-persisted-entry.ts), so that both print the same thing. No ssh2 here.
import {formatHostPort} from '../core/address.js'
import type {KorvResponse} from '../core/korv/requests.js'
import {type OnTrace, jsonByteLength} from '../core/trace.js'
import {type CallEnvelope, type EnvelopeTarget, buildEnvelope} from './envelope.js'
import {exitCodeForStatus} from './exit-codes.js'
import type {PayloadSource} from './flag-values.js'
import {formatJson, stderrColors as c, writeStderr, writeStdout} from './output.js'
import {withProgress} from './progress.js'

/** What `korv call` was asked to do (commands/korv/call.ts, or the fast path's cli/korv-call-argv.ts). */
export interface KorvCallOptions {
  verb?: string
  path?: string
  data?: PayloadSource
  interactive?: boolean
  batch?: string
  concurrency: number
  host: string
  port: number
  user: string
  identityPaths?: string[]
  knownHostsPath?: string
  acceptNew?: boolean
  insecure?: boolean
  timeoutMs: number
  connectTimeoutMs: number
  json: boolean
  /** -v: trace the connection and the exchange on stderr. */
  verbose?: boolean
  /** --persist: keep the connection this long after the last call (ms), or `stop` the one kept. */
  persist?: number | 'stop'
}

/** What a call needs of its connection: a KorvClient, or a channel through a persisted one. */
export interface KorvRequester {
  request(verb: string, path: string, body: unknown, options: {timeoutMs?: number}): Promise<KorvResponse>
  close(): Promise<void>
}

/**
 * Sends one request and sets the exit code by its status; prints the body (and, for 4xx/5xx, a line on
 * stderr), or with --json returns the call envelope for the command to print.
 */
export async function callOnce(
  client: KorvRequester,
  options: KorvCallOptions,
  request: {verb: string; path: string; body: unknown},
  times: {started: number; connectMs: number},
  trace?: OnTrace,
): Promise<CallEnvelope | undefined> {
  const {body, path, verb} = request
  traceRequest(trace, verb, path, body)
  const response = await withProgress(`waiting for ${verb} ${path}`, client.request(verb, path, body, {timeoutMs: options.timeoutMs}))
  if (trace) {
    traceResponse(trace, response)
    trace('info', `Total ${round(performance.now() - times.started)} ms (connect and handshake ${round(times.connectMs)} ms)`)
  }

  process.exitCode = exitCodeForStatus(response.status)
  const totalMs = performance.now() - times.started
  if (options.json) return envelopeFor(options, {path, verb}, response, {connectMs: times.connectMs, responseMs: response.durationMs, totalMs})

  writeStdout(formatJson(response.body))
  if (response.status >= 400) writeStderr(c.yellow(`${verb} ${path}: ${response.status}\n`))
  return undefined
}

/** The korv envelope, its body as a size only (it may hold secrets). */
export function traceRequest(trace: OnTrace | undefined, verb: string, path: string, body: unknown, id?: unknown): void {
  trace?.('send', `${verb} ${path}${id === undefined ? '' : ` (batch id ${JSON.stringify(id)})`} [body: ${jsonByteLength(body)} bytes of JSON]`)
}

export function traceResponse(trace: OnTrace | undefined, response: KorvResponse): void {
  trace?.('recv', `${response.status} (request_id ${response.requestId}) [body: ${jsonByteLength(response.body)} bytes of JSON]`)
  trace?.('info', `Response after ${round(response.durationMs)} ms`)
}

export function targetOf(options: KorvCallOptions, request: {verb: string; path: string}): EnvelopeTarget {
  return {address: formatHostPort(options.host, options.port), request: {verb: request.verb, path: request.path}}
}

export function envelopeFor(
  options: KorvCallOptions,
  request: {verb: string; path: string},
  response: KorvResponse,
  timing: {connectMs?: number; responseMs: number; totalMs: number},
  batch?: {id: unknown; line: number},
): CallEnvelope {
  return buildEnvelope({
    body: response.body,
    bodyEncoding: 'json',
    details: batch ? {requestId: response.requestId, batch} : {requestId: response.requestId},
    ok: exitCodeForStatus(response.status) === 0,
    protocol: 'korv',
    status: response.status,
    target: targetOf(options, request),
    timing,
  })
}

const round = (ms: number): number => Math.round(ms * 100) / 100
