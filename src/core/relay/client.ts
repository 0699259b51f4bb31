// `sendRelayRequest`: one request line to a running relay over TCP or a UNIX socket; resolves with the
// final reply (after "dispatched"), or with the rejection when the relay did not accept the line.
import {type Socket, connect} from 'node:net'
import {PeerGoneError, RestwireError, TimeoutError, errnoCode} from '../errors.js'
import {DEFAULT_MAX_LINE_BYTES} from '../framing/ndjson.js'
import {stringifyJson} from '../json.js'
import {type OnTrace, elapsedMs, jsonByteLength, maskHeaderValue} from '../trace.js'
import {type RelayAddress, formatRelayAddress} from './address.js'
import {RelayLineDecoder} from './line-decoder.js'
import type {RelayRequestLine} from './messages.js'

export interface RelaySendOptions {
  address: RelayAddress
  request: RelayRequestLine
  timeoutMs: number
  /** Makes the connection (default node:net connect); tests and embedders may pass their own. */
  connect?: (address: RelayAddress) => Socket
  /** For `-v`: the address, the line sent and the lines received, params and data as sizes only. */
  onTrace?: OnTrace
  /** A reply line longer than this is RW_ERR_PROTOCOL (default 16 MiB). */
  maxLineBytes?: number
}

export interface RelayFinalReply {
  status: 'ok' | 'error'
  id: unknown
  time?: number
  response: unknown
  http_status?: number
  headers?: Record<string, unknown>
}

export interface RelaySendResult {
  /** The relay accepted the line (sent "dispatched") before the final reply. */
  dispatched: boolean
  reply: RelayFinalReply
}

const defaultConnect = (address: RelayAddress): Socket => (address.kind === 'unix' ? connect(address.path) : connect(address.port, address.host))

export function sendRelayRequest(options: RelaySendOptions): Promise<RelaySendResult> {
  const where = formatRelayAddress(options.address)
  // Before connecting: a body too deep to serialise is the caller's RW_ERR_JSON, not a crash.
  const line = stringifyJson(options.request, 'the request') + '\n'
  const trace = options.onTrace
  const started = performance.now()
  return new Promise<RelaySendResult>((resolve, reject) => {
    trace?.('info', `Trying ${where}...`)
    const socket = (options.connect ?? defaultConnect)(options.address)
    let connected = false
    let dispatched = false
    let settled = false
    const finish = (error: RestwireError | undefined, result?: RelaySendResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      decoder.stop()
      socket.destroy()
      if (error) reject(error)
      else resolve(result!)
    }

    const timer = setTimeout(() => finish(new TimeoutError(`no final reply from the relay at ${where} within ${options.timeoutMs} ms`, {details: {dispatched}, timeoutMs: options.timeoutMs})), options.timeoutMs)
    // The relay server's own decoder: the same lines, "\r\n" and limit rules both ways.
    const decoder = new RelayLineDecoder({
      maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      onOverlong: (limit) => finish(new RestwireError('RW_ERR_PROTOCOL', `the relay at ${where} sent a reply line over the size limit`, {cause: new RestwireError('RW_ERR_FRAME_TOO_LARGE', `line exceeds the ${limit} byte limit`)})),
      onLine(text) {
        let reply: RelayFinalReply | {status: 'dispatched'}
        try {
          reply = JSON.parse(text.toString('utf8')) as RelayFinalReply | {status: 'dispatched'}
        } catch (error) {
          return finish(new RestwireError('RW_ERR_PROTOCOL', `the relay at ${where} sent a line that is not JSON`, {cause: error}))
        }

        if (typeof reply !== 'object' || reply === null) return finish(new RestwireError('RW_ERR_PROTOCOL', `the relay at ${where} sent a line that is not a JSON object`))
        if (trace) traceReply(trace, reply, started)
        if (reply.status === 'dispatched') dispatched = true
        else if (reply.status === 'ok' || reply.status === 'error') finish(...checkedReply(reply, dispatched, where))
        else finish(new RestwireError('RW_ERR_PROTOCOL', `the relay at ${where} sent an unknown status`))
      },
    })
    // Listeners for the socket's whole life: a second error (or one after the close) must find one too.
    socket.on('data', (chunk: Buffer) => decoder.push(chunk))
    socket.once('connect', () => {
      connected = true
      if (trace) {
        trace('info', `Connected to ${where} (connect ${elapsedMs(started)})`)
        trace('send', `${describeRequest(options.request)} [line: ${Buffer.byteLength(line)} bytes]`)
      }

      socket.write(line)
    })
    socket.on('error', (error) => {
      if (connected) return finish(new PeerGoneError(`the connection to the relay at ${where} failed ${dispatched ? 'after the request was dispatched' : 'before an answer'}: ${error.message}`, {cause: error}))
      const code = errnoCode(error)
      const reason = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOENT' ? 'no such socket' : error.message
      finish(new RestwireError('RW_ERR_CONNECT', `cannot connect to the relay at ${where}: ${reason}`, {cause: error, hint: 'Is `restwire relay start` running, and is --to its --listen address?'}))
    })
    socket.on('close', () => finish(new PeerGoneError(`the relay at ${where} closed the connection before the final reply`)))
  })
}

/** The request line with its values as sizes: params and data may hold credentials. */
function describeRequest(request: RelayRequestLine): string {
  const params = Object.entries(request.params ?? {}).map(([name, value]) => `${name} (${jsonByteLength(value)} bytes)`)
  const parts = [`request ${JSON.stringify(request.request)}`, `id ${JSON.stringify(request.id)}`]
  if (params.length > 0) parts.push(`params: ${params.join(', ')}`)
  if (request.data !== undefined) parts.push(`data: ${jsonByteLength(request.data)} bytes of JSON`)
  return parts.join(', ')
}

function traceReply(trace: OnTrace, reply: RelayFinalReply | {status: 'dispatched'}, started: number): void {
  const after = `after ${elapsedMs(started)}`
  if (reply.status === 'dispatched') return trace('recv', `dispatched (${after})`)
  const {headers, http_status: httpStatus, response, status, time} = reply as RelayFinalReply
  const fields = [status, httpStatus === undefined ? undefined : `http_status ${httpStatus}`, time === undefined ? undefined : `time ${time}`]
  trace('recv', `${fields.filter(Boolean).join(', ')} [response: ${jsonByteLength(response)} bytes of JSON]`)
  for (const [name, value] of Object.entries(headers ?? {})) trace('recv', `${name}: ${maskHeaderValue(name, String(value))}`)
  trace('info', `Total ${elapsedMs(started)}`)
}

/** A final reply is printed and returned as --json: one too deep to write back out is refused here (RW_ERR_JSON). */
function checkedReply(reply: RelayFinalReply, dispatched: boolean, where: string): [RestwireError | undefined, RelaySendResult?] {
  try {
    stringifyJson(reply, `the reply of the relay at ${where}`)
  } catch (error) {
    return [error as RestwireError]
  }

  return [undefined, {dispatched, reply}]
}
