// `pipe call` glue around core's gateway client (core/pipe/gateway-client.ts): one event through a running
// local gateway (hub or node); the reply body goes to stdout as it arrives (binary-safe), and the HTTP
// status and event code become the exit code.
import {constants, createReadStream, createWriteStream} from 'node:fs'
import {access, stat} from 'node:fs/promises'
import {basename} from 'node:path'
import {type Readable, pipeline as pipeStreams} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {RestwireError, errnoCode} from '../core/errors.js'
import {stringifyJson} from '../core/json.js'
import {type PipeGatewayReply, callPipeGateway} from '../core/pipe/gateway-client.js'
import {type CallEnvelope, bodyFromBytes, buildEnvelope} from './envelope.js'
import {exitCodeForPipeReply} from './exit-codes.js'
import type {PayloadSource} from './flags.js'
import {formatJson, stderrColors as c, stdoutIsTty} from './output.js'
import {promptRequest} from './request-prompts.js'
import {type TransferProgress, startTransferProgress, tapBytes} from './transfer-progress.js'

/** The verbs offered at the prompt; any word is accepted as an argument. */
const PROMPT_VERBS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

export interface PipeCallOptions {
  verb?: string
  path?: string
  /** Prompt for verb, path and (for verbs with a body, unless --data gave one) a JSON body. Terminal only. */
  interactive?: boolean
  data?: PayloadSource
  contentType?: string
  output?: string
  gateway: string
  timeoutMs: number
  json: boolean
  /** -v: trace the HTTP exchange with the gateway on stderr. */
  verbose?: boolean
}

/** The --json result of `pipe call`: the call envelope. */
export type PipeCallResult = CallEnvelope

export async function runPipeCall(options: PipeCallOptions): Promise<PipeCallResult | undefined> {
  // Loaded only with -v; the trace sees only undici's HTTP exchange, and ends once the reply is read.
  const trace = options.verbose ? await import('./trace.js').then(({createTraceWriter, startHttpTrace}) => startHttpTrace(createTraceWriter())) : undefined
  try {
    return await callGateway(options)
  } finally {
    trace?.end()
  }
}

async function callGateway(options: PipeCallOptions): Promise<CallEnvelope | undefined> {
  const started = performance.now()
  if (options.interactive || options.verb === undefined || options.path === undefined) options = await promptEvent(options)
  const verb = options.verb!.toUpperCase()
  if (!/^[A-Z][A-Z0-9_-]*$/.test(verb)) throw new RestwireError('RW_ERR_USAGE', `VERB must be a word like GET or POST, got "${options.verb}"`)
  if (!options.path!.startsWith('/')) throw new RestwireError('RW_ERR_USAGE', `PATH must start with /, e.g. /client/NODE/time or /server/time, got "${options.path}"`)
  const {body, contentType, upload} = await requestBody(options)
  let reply: PipeGatewayReply
  try {
    reply = await callPipeGateway({body, contentType, gateway: options.gateway, path: options.path!, timeoutMs: options.timeoutMs, verb})
  } finally {
    // The reply starts once the handler has the body: the upload line must not share stderr with it.
    upload?.done()
  }

  const {code, contentType: replyType} = reply
  process.exitCode = exitCodeForPipeReply(reply.status, code)
  const saved = options.output ? await saveBody(reply, options.output) : undefined
  if (options.json) {
    // Binary bodies are base64 in the document; with --output the bytes are in the file, the document says how many.
    const {body, bodyEncoding} = saved ? {body: null, bodyEncoding: 'none' as const} : bodyFromBytes(Buffer.from(await reply.body.arrayBuffer()), replyType)
    return buildEnvelope({
      body,
      bodyEncoding,
      details: saved ? {code, output: saved} : {code},
      headers: reply.headers,
      ok: exitCodeForPipeReply(reply.status, code) === 0,
      protocol: 'pipe',
      status: reply.status,
      target: {address: options.gateway, request: {verb, path: options.path!}},
      timing: {totalMs: performance.now() - started},
    })
  }

  if (!saved) await writeBody(reply)
  if (reply.status !== 200) process.stderr.write(c.yellow(`${verb} ${options.path}: HTTP ${reply.status}\n`))
  else if (code !== 0) process.stderr.write(c.yellow(`${verb} ${options.path}: event return code ${code}\n`))
  return undefined
}

/** The reply body to stdout: JSON pretty on a terminal, other bytes as they are. */
async function writeBody(reply: PipeGatewayReply): Promise<void> {
  if (stdoutIsTty() && /\bjson\b/.test(reply.contentType)) {
    process.stdout.write(formatJson(decode(await reply.body.text(), reply.contentType)) + '\n')
  } else if (stdoutIsTty()) {
    // On a terminal, the shell prompt must start on a line of its own; piped bytes stay exact.
    let last: number | undefined
    await pipeline(reply.body, tapBytes((chunk) => (last = chunk.at(-1) ?? last)), process.stdout, {end: false})
    if (last !== undefined && last !== 0x0a) process.stdout.write('\n')
  } else {
    await pipeline(reply.body, process.stdout, {end: false})
  }
}

/** The reply body into --output FILE, with a progress line on a terminal; returns its size. */
async function saveBody(reply: PipeGatewayReply, path: string): Promise<{path: string; bytes: number}> {
  const length = Number(reply.headers['content-length'])
  const progress = startTransferProgress(`↓ ${basename(path)}`, Number.isSafeInteger(length) ? length : undefined)
  let bytes = 0
  try {
    await pipeline(
      reply.body,
      tapBytes((chunk) => {
        bytes += chunk.length
        progress.add(chunk.length)
      }),
      createWriteStream(path),
    )
  } finally {
    progress.done()
  }

  return {bytes, path}
}

/** Verb, path and body from the terminal (a usage error naming the arguments when stdin is not one). */
async function promptEvent(options: PipeCallOptions): Promise<PipeCallOptions> {
  const {data} = options
  // A body from @FILE or @- is kept as it is; only an inline or missing body is asked for.
  const given = data?.kind === 'inline' ? data.value : data ? null : undefined
  const prompted = await promptRequest(PROMPT_VERBS, {body: given, path: options.path, verb: options.verb?.toUpperCase()}, 'restwire pipe call GET /client/fileserver/time')
  const body = data && data.kind !== 'inline' ? data : prompted.body === null || prompted.body === undefined ? undefined : {kind: 'inline' as const, value: prompted.body}
  return {...options, data: body, path: prompted.path, verb: prompted.verb}
}

/** Inline --data is JSON; @FILE and @- are sent as they are (binary-safe, streamed; a file with a progress line). */
async function requestBody(options: PipeCallOptions): Promise<{body?: string | Readable; contentType?: string; upload?: TransferProgress}> {
  const {data} = options
  if (!data) return {}
  if (data.kind === 'inline') return {body: stringifyJson(data.value, '--data'), contentType: options.contentType ?? 'application/json'}
  const type = options.contentType ?? (data.kind === 'file' && data.path.endsWith('.json') ? 'application/json' : 'application/octet-stream')
  if (data.kind === 'stdin') return {body: process.stdin, contentType: type}
  let size: number
  try {
    await access(data.path, constants.R_OK)
    size = (await stat(data.path)).size
  } catch (error) {
    const reason = errnoCode(error) === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new RestwireError('RW_ERR_USAGE', `cannot read the request body from ${data.path}: ${reason}`, {cause: error})
  }

  const upload = startTransferProgress(`↑ ${basename(data.path)}`, size || undefined)
  // A read error destroys the tap too, which undici then reports as the request's failure.
  const body = pipeStreams(createReadStream(data.path), tapBytes((chunk) => upload.add(chunk.length)), () => upload.done())
  return {body, contentType: type, upload}
}

function decode(text: string, contentType: string): unknown {
  if (text === '') return null
  if (/\bjson\b/.test(contentType)) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }

  return text
}
