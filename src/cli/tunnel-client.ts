// `tunnel nodes` and `tunnel call` glue: prompts, printing and exit codes around core's client of the
// gateway's local HTTP API (core/tunnel/api-client.ts).
import type {IncomingHttpHeaders} from 'node:http'
import {ERROR_CATALOGUE, RestwireError} from '../core/errors.js'
import {type TunnelApiNode, type TunnelCallResponse, type TunnelStreamError, callTunnelNode, listTunnelNodes, openTunnelStream} from '../core/tunnel/api-client.js'
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

export type GatewayNode = TunnelApiNode

export async function runTunnelNodes(options: TunnelNodesOptions): Promise<GatewayNode[] | undefined> {
  const nodes = await traced(options.verbose, () => listTunnelNodes({gateway: options.gateway, timeoutMs: options.timeoutMs}))
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
  const envelopeTarget: EnvelopeTarget = {address: options.gateway, request: {node, verb, path}}
  if (verb === 'STREAM') {
    process.exitCode = await runStream(options, {node, path}, options.json ? {started, target: envelopeTarget} : undefined)
    return undefined
  }

  const response = await traced(options.verbose, () => callTunnelNode({body, gateway: options.gateway, node, path, timeoutMs: options.timeoutMs, verb}))
  process.exitCode = exitCodeForStatus(response.status)
  if (options.json) return envelopeOf(response, envelopeTarget, started)
  writeStdout(formatJson(response.body))
  if (response.status >= 400) process.stderr.write(c.yellow(`${verb} ${path} on ${node}: ${response.status}\n`))
  return undefined
}

/** With --json, a STREAM prints one envelope per item instead of the bare item. */
interface StreamEnvelopes {
  started: number
  target: EnvelopeTarget
}

/** Prints each item as an NDJSON line as it arrives. SIGINT aborts the request (the gateway then cancels the stream). */
async function runStream(options: TunnelCallOptions, request: {node: string; path: string}, json?: StreamEnvelopes): Promise<number> {
  const target = `/nodes/${encodeURIComponent(request.node)}${request.path}`
  const controller = new AbortController()
  let interrupted = false
  const onSigint = (): void => {
    interrupted = true
    controller.abort()
  }

  process.once('SIGINT', onSigint)
  const trace = await startTrace(options.verbose)
  try {
    const response = await openTunnelStream({gateway: options.gateway, ...request, signal: controller.signal, timeoutMs: options.timeoutMs})
    if (response.status !== 200) {
      const answer = await response.read().finally(() => trace?.end())
      if (json) {
        writeStdout(formatJson(envelopeOf({...answer, headers: response.headers, status: response.status}, json.target, json.started)))
        return exitCodeForStatus(response.status)
      }

      writeStdout(formatJson(answer.body))
      process.stderr.write(c.yellow(`STREAM ${target}: ${response.status}\n`))
      return exitCodeForStatus(response.status)
    }

    const items = json ? new StreamItemWriter(response.headers, json) : undefined
    try {
      for await (const line of response.lines()) {
        if (items) items.push(line)
        else process.stdout.write(line + '\n')
      }
    } finally {
      trace?.end()
    }

    const streamError = response.streamError()
    items?.end(streamError)
    if (interrupted) return ERROR_CATALOGUE.RW_ERR_INTERRUPTED.exitCode
    return streamErrorExitCode(streamError, target, Boolean(items))
  } catch (error) {
    trace?.end()
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
    private readonly headers: IncomingHttpHeaders,
    private readonly json: StreamEnvelopes,
  ) {}

  push(line: string): void {
    if (line.trim() === '') return
    if (this.held !== undefined) this.write(this.held, 200, {item: this.index++})
    this.held = line
  }

  end(streamError: TunnelStreamError | undefined): void {
    if (this.held === undefined) return
    if (!streamError) return this.write(this.held, 200, {item: this.index++})
    this.write(this.held, streamError.status, {item: this.index++, streamError: true})
  }

  private write(line: string, status: number, details: {item: number; streamError?: boolean}): void {
    const {body, bodyEncoding} = bodyFromBytes(Buffer.from(line), 'application/json')
    const envelope = buildEnvelope({body, bodyEncoding, details, headers: this.headers, ok: !details.streamError, protocol: 'tunnel', status, target: this.json.target, timing: {totalMs: performance.now() - this.json.started}})
    writeStdout(JSON.stringify(envelope))
  }
}

function envelopeOf(response: Pick<TunnelCallResponse, 'bytes' | 'headers' | 'status'>, target: EnvelopeTarget, started: number): CallEnvelope {
  const {body, bodyEncoding} = bodyFromBytes(response.bytes, String(response.headers['content-type'] ?? ''))
  const ok = exitCodeForStatus(response.status) === 0
  return buildEnvelope({body, bodyEncoding, details: {}, headers: response.headers, ok, protocol: 'tunnel', status: response.status, target, timing: {totalMs: performance.now() - started}})
}

/** A stream that broke mid-way: its last line was the error record, the trailer repeats it; exit as for its status. */
function streamErrorExitCode(streamError: TunnelStreamError | undefined, target: string, json: boolean): number {
  if (!streamError) return 0
  // Under --json the last envelope says it (ok false, tunnel.streamError), and stderr stays empty.
  if (!json) process.stderr.write(c.yellow(`STREAM ${target} ended with an error (${streamError.status}): ${String(streamError.error)}\n`))
  return exitCodeForStatus(streamError.status)
}

/** -v: traces undici's exchanges with the gateway (loaded only then) until the call's answer is read. */
async function startTrace(verbose: boolean | undefined): Promise<HttpTrace | undefined> {
  if (!verbose) return undefined
  const {createTraceWriter, startHttpTrace} = await import('./trace.js')
  return startHttpTrace(createTraceWriter())
}

async function traced<T>(verbose: boolean | undefined, call: () => Promise<T>): Promise<T> {
  const trace = await startTrace(verbose)
  try {
    return await call()
  } finally {
    trace?.end()
  }
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
