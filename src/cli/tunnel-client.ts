// `tunnel nodes` and `tunnel call` glue: talk to a running gateway's local HTTP API with undici.
import type {Dispatcher} from 'undici'
import {ERROR_CATALOGUE, RestwireError, errnoCode} from '../core/errors.js'
import {STREAM_ERROR_TRAILER} from '../core/tunnel/http-stream.js'
import {canonicalRequestType} from '../core/tunnel/messages.js'
import {type CallEnvelope, type EnvelopeTarget, bodyFromBytes, buildEnvelope} from './envelope.js'
import {exitCodeForStatus} from './exit-codes.js'
import type {PayloadSource} from './flags.js'
import {formatJson, stderrColors as c, stdoutIsTty, writeStdout} from './output.js'
import {readPayload} from './payload.js'
import type {HttpTrace} from './trace.js'
import {promptRequest} from './request-prompts.js'

const CALL_VERBS = ['GET', 'POST', 'PATCH', 'DELETE', 'STREAM'] as const

export interface TunnelNodesOptions {
  gateway: string
  json: boolean
  timeoutMs: number
  /** -v: trace the HTTP exchange with the gateway on stderr. */
  verbose?: boolean
}

export interface GatewayNode {
  id: string
  fingerprint: string
  address: string
  connectedSince: string
  inFlight: number
}

export async function runTunnelNodes(options: TunnelNodesOptions): Promise<GatewayNode[] | undefined> {
  const response = await gatewayRequest(options.gateway, 'GET', '/nodes', {signal: AbortSignal.timeout(options.timeoutMs), timeoutMs: options.timeoutMs, verbose: options.verbose})
  const body = await readJson(response)
  if (response.statusCode !== 200 || !Array.isArray(body)) {
    throw new RestwireError('RW_ERR_PROTOCOL', `GET ${options.gateway}/nodes answered ${response.statusCode}: ${JSON.stringify(body)}`)
  }

  const nodes = body as GatewayNode[]
  if (options.json) return nodes
  if (stdoutIsTty()) writeStdout(nodeTable(nodes))
  else for (const node of nodes) writeStdout(JSON.stringify(node))
  return undefined
}

function nodeTable(nodes: GatewayNode[]): string {
  if (nodes.length === 0) return c.dim('no nodes connected')
  const rows = [['ID', 'FINGERPRINT', 'ADDRESS', 'SINCE', 'IN FLIGHT'], ...nodes.map((node) => [node.id, node.fingerprint, node.address, node.connectedSince, String(node.inFlight)])]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)))
  return rows.map((row) => row.map((cell, column) => (cell ?? '').padEnd(widths[column]!)).join('  ').trimEnd()).join('\n')
}

export interface TunnelCallOptions {
  node?: string
  verb?: string
  path?: string
  data?: PayloadSource
  interactive: boolean
  gateway: string
  timeoutMs: number
  json: boolean
  /** -v: trace the HTTP exchange with the gateway on stderr. */
  verbose?: boolean
}

/** The --json result of `tunnel call`: the call envelope (a STREAM prints its own, one per item). */
export type TunnelCallResult = CallEnvelope

export async function runTunnelCall(options: TunnelCallOptions): Promise<TunnelCallResult | undefined> {
  const started = performance.now()
  const {body, node, path, verb} = await resolveRequest(options)
  const target = `/nodes/${encodeURIComponent(node)}${path}`
  const envelopeTarget: EnvelopeTarget = {address: options.gateway, request: {node, verb, path}}
  if (verb === 'STREAM') {
    process.exitCode = await runStream(options, target, options.json ? {started, target: envelopeTarget} : undefined)
    return undefined
  }

  const response = await gatewayRequest(options.gateway, verb, target, {
    body: verb === 'GET' || body === null ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(options.timeoutMs),
    timeoutMs: options.timeoutMs,
    verbose: options.verbose,
  })
  process.exitCode = exitCodeForStatus(response.statusCode)
  if (options.json) return envelopeOf(response, await readBytes(response), envelopeTarget, started)
  const answer = await readJson(response)
  writeStdout(formatJson(answer))
  if (response.statusCode >= 400) process.stderr.write(c.yellow(`${verb} ${path} on ${node}: ${response.statusCode}\n`))
  return undefined
}

/** With --json, a STREAM prints one envelope per item instead of the bare item. */
interface StreamEnvelopes {
  started: number
  target: EnvelopeTarget
}

/** Prints each item as an NDJSON line as it arrives. SIGINT aborts the request (the gateway then cancels the stream). */
async function runStream(options: TunnelCallOptions, target: string, json?: StreamEnvelopes): Promise<number> {
  const controller = new AbortController()
  let interrupted = false
  const onSigint = (): void => {
    interrupted = true
    controller.abort()
  }

  process.once('SIGINT', onSigint)
  try {
    // The timeout bounds the first answer only; a stream may then run for ever.
    const response = await gatewayRequest(options.gateway, 'GET', target, {accept: 'application/x-ndjson', signal: controller.signal, streaming: true, timeoutMs: options.timeoutMs, verbose: options.verbose})
    if (response.statusCode !== 200) {
      if (json) {
        writeStdout(formatJson(envelopeOf(response, await readBytes(response), json.target, json.started)))
        return exitCodeForStatus(response.statusCode)
      }

      const answer = await readJson(response)
      writeStdout(formatJson(answer))
      process.stderr.write(c.yellow(`STREAM ${target}: ${response.statusCode}\n`))
      return exitCodeForStatus(response.statusCode)
    }

    let pending = ''
    const items = json ? new StreamItemWriter(response, json) : undefined
    try {
      for await (const chunk of response.body) {
        pending += (chunk as Buffer).toString('utf8')
        const end = pending.lastIndexOf('\n')
        if (end === -1) continue
        if (items) items.push(pending.slice(0, end))
        else process.stdout.write(pending.slice(0, end + 1))
        pending = pending.slice(end + 1)
      }
    } catch (error) {
      if (!interrupted) throw new RestwireError('RW_ERR_CLOSED', `the stream from the gateway broke off: ${(error as Error).message}`, {cause: error})
    } finally {
      response.trace?.end()
    }

    if (items) {
      items.push(pending)
      items.end(interrupted ? undefined : response.trailers[STREAM_ERROR_TRAILER])
    } else if (pending.trim() !== '') writeStdout(pending)
    if (interrupted) return ERROR_CATALOGUE.RW_ERR_INTERRUPTED.exitCode
    return streamErrorExitCode(response.trailers[STREAM_ERROR_TRAILER], target, Boolean(items))
  } catch (error) {
    if (interrupted) return ERROR_CATALOGUE.RW_ERR_INTERRUPTED.exitCode
    throw error
  } finally {
    process.off('SIGINT', onSigint)
  }
}

/**
 * One envelope line per stream item (status 200, tunnel.item its index). The last line is held back until
 * the next one or the end: when the stream broke mid-way, that line is the node's error record, printed
 * with ok false, the trailer's status and tunnel.streamError.
 */
class StreamItemWriter {
  private held: string | undefined
  private index = 0
  constructor(
    private readonly response: GatewayResponse,
    private readonly json: StreamEnvelopes,
  ) {}

  push(text: string): void {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue
      if (this.held !== undefined) this.write(this.held, 200, {item: this.index++})
      this.held = line
    }
  }

  end(trailer: string | string[] | undefined): void {
    if (this.held === undefined) return
    if (typeof trailer !== 'string') return this.write(this.held, 200, {item: this.index++})
    let status = 502
    try {
      const record = JSON.parse(trailer) as {status?: unknown}
      if (typeof record.status === 'number') status = record.status
    } catch {
      // A trailer that is not JSON: the gateway's default status for a broken stream.
    }

    this.write(this.held, status, {item: this.index++, streamError: true})
  }

  private write(line: string, status: number, details: {item: number; streamError?: boolean}): void {
    const {body, bodyEncoding} = bodyFromBytes(Buffer.from(line), 'application/json')
    const envelope = buildEnvelope({body, bodyEncoding, details, headers: this.response.headers, ok: !details.streamError, protocol: 'tunnel', status, target: this.json.target, timing: {totalMs: performance.now() - this.json.started}})
    writeStdout(JSON.stringify(envelope))
  }
}

function envelopeOf(response: GatewayResponse, bytes: Buffer, target: EnvelopeTarget, started: number): CallEnvelope {
  const {body, bodyEncoding} = bodyFromBytes(bytes, String(response.headers['content-type'] ?? ''))
  const ok = exitCodeForStatus(response.statusCode) === 0
  return buildEnvelope({body, bodyEncoding, details: {}, headers: response.headers, ok, protocol: 'tunnel', status: response.statusCode, target, timing: {totalMs: performance.now() - started}})
}

async function readBytes(response: GatewayResponse): Promise<Buffer> {
  return Buffer.from(await response.body.arrayBuffer().finally(() => response.trace?.end()))
}

/** A stream that broke mid-way: its last line was the error record, the trailer repeats it; exit as for its status. */
function streamErrorExitCode(trailer: string | string[] | undefined, target: string, json: boolean): number {
  if (typeof trailer !== 'string') return 0
  let record: {error?: unknown; status?: unknown}
  try {
    record = JSON.parse(trailer) as typeof record
  } catch {
    record = {error: trailer}
  }

  const status = typeof record.status === 'number' ? record.status : 502
  // Under --json the last envelope says it (ok false, tunnel.streamError), and stderr stays empty.
  if (!json) process.stderr.write(c.yellow(`STREAM ${target} ended with an error (${status}): ${String(record.error)}\n`))
  return exitCodeForStatus(status)
}

async function resolveRequest(options: TunnelCallOptions): Promise<{node: string; verb: string; path: string; body: unknown}> {
  const {node} = options
  let {path, verb} = options
  if (!node) {
    throw new RestwireError('RW_ERR_USAGE', 'missing NODE: the id of a node connected to the gateway (see `restwire tunnel nodes`)', {
      hint: 'Pass it first, e.g. restwire tunnel call demo GET /home.',
    })
  }
  let body = options.data ? await readPayload(options.data) : undefined
  if (options.interactive || verb === undefined || path === undefined) {
    const prompted = await promptRequest(CALL_VERBS, {body, path, verb: verb ? checkVerb(verb) : undefined}, `restwire tunnel call ${node} GET /home`)
    ;({body, path, verb} = prompted)
  }

  if (!path!.startsWith('/')) throw new RestwireError('RW_ERR_USAGE', `PATH must start with /, got "${path}"`)
  const canonical = checkVerb(verb!)
  if (canonical === 'STREAM' && body !== undefined) {
    throw new RestwireError('RW_ERR_USAGE', 'a STREAM takes no body', {hint: 'Pass its parameters in the path: STREAM "/items?n=10".'})
  }

  return {body: body ?? null, node, path: path!, verb: canonical}
}

function checkVerb(verb: string): string {
  const canonical = canonicalRequestType(verb)
  if (!canonical || !(CALL_VERBS as readonly string[]).includes(canonical)) {
    throw new RestwireError('RW_ERR_USAGE', `unknown verb "${verb}"; use one of ${CALL_VERBS.join(', ')} (UPDATE is sent as PATCH)`)
  }

  return canonical
}

interface GatewayRequestOptions {
  body?: string
  accept?: string
  signal: AbortSignal
  timeoutMs: number
  /** Leave the body unbounded in time (streams). */
  streaming?: boolean
  verbose?: boolean
}

/** A response whose body is read through readJson() or the stream loop, which end the trace. */
type GatewayResponse = Dispatcher.ResponseData & {trace?: HttpTrace}

/** One HTTP request to the gateway API; connection failures and timeouts become typed errors. */
async function gatewayRequest(gateway: string, method: string, path: string, options: GatewayRequestOptions): Promise<GatewayResponse> {
  const {request} = await import('undici')
  const url = gateway + path
  const headers: Record<string, string> = {accept: options.accept ?? 'application/json'}
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  // Loaded only with -v.
  let trace: HttpTrace | undefined
  if (options.verbose) {
    const {createTraceWriter, startHttpTrace} = await import('./trace.js')
    trace = startHttpTrace(createTraceWriter())
  }

  try {
    const response: GatewayResponse = await request(url, {
      body: options.body,
      bodyTimeout: options.streaming ? 0 : options.timeoutMs,
      headers,
      headersTimeout: options.timeoutMs,
      method: method as Dispatcher.HttpMethod,
      signal: options.signal,
    })
    response.trace = trace
    return response
  } catch (error) {
    trace?.end()
    throw requestError(error, gateway, options.timeoutMs)
  }
}

function requestError(error: unknown, gateway: string, timeoutMs: number): RestwireError {
  const code = errnoCode(error) ?? (error as {code?: string}).code
  const name = (error as Error).name
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || name === 'TimeoutError') {
    return new RestwireError('RW_ERR_TIMEOUT', `no answer from the gateway at ${gateway} within ${timeoutMs} ms`, {cause: error})
  }

  const reason = code === 'ECONNREFUSED' ? 'connection refused' : (error as Error).message
  return new RestwireError('RW_ERR_CONNECT', `cannot reach the gateway's HTTP API at ${gateway}: ${reason}`, {
    cause: error,
    hint: 'Is `restwire tunnel gateway` running, and is --to its --http address?',
  })
}

async function readJson(response: GatewayResponse): Promise<unknown> {
  const text = await response.body.text().finally(() => response.trace?.end())
  if (text === '') return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
