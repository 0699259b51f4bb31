// `sendRelayRequest`: one request line to a running relay over TCP or a UNIX socket; resolves with the
// final reply (after "dispatched"), or with the rejection when the relay did not accept the line.
import {type Socket, connect} from 'node:net'
import {RestwireError, errnoCode} from '../errors.js'
import {NdjsonDecoder} from '../framing/ndjson.js'
import {type RelayAddress, formatRelayAddress} from './address.js'
import type {RelayRequestLine} from './messages.js'

export interface RelaySendOptions {
  address: RelayAddress
  request: RelayRequestLine
  timeoutMs: number
  /** Makes the connection (default node:net connect); tests and embedders may pass their own. */
  connect?: (address: RelayAddress) => Socket
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
  return new Promise<RelaySendResult>((resolve, reject) => {
    const socket = (options.connect ?? defaultConnect)(options.address)
    let dispatched = false
    let settled = false
    const finish = (error: RestwireError | undefined, result?: RelaySendResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(result!)
    }

    const timer = setTimeout(() => finish(new RestwireError('RW_ERR_TIMEOUT', `no final reply from the relay at ${where} within ${options.timeoutMs} ms`, {details: {dispatched}})), options.timeoutMs)
    const decoder = new NdjsonDecoder({
      onError: (error) => finish(new RestwireError('RW_ERR_PROTOCOL', `the relay at ${where} sent a reply line over the size limit`, {cause: error})),
      onLine(line) {
        let reply: RelayFinalReply | {status: 'dispatched'}
        try {
          reply = JSON.parse(line.toString('utf8')) as RelayFinalReply | {status: 'dispatched'}
        } catch (error) {
          return finish(new RestwireError('RW_ERR_PROTOCOL', `the relay at ${where} sent a line that is not JSON`, {cause: error}))
        }

        if (reply.status === 'dispatched') dispatched = true
        else if (reply.status === 'ok' || reply.status === 'error') finish(undefined, {dispatched, reply})
        else finish(new RestwireError('RW_ERR_PROTOCOL', `the relay at ${where} sent an unknown status ${JSON.stringify((reply as {status: unknown}).status)}`))
      },
    })
    socket.on('data', (chunk: Buffer) => decoder.push(chunk))
    socket.once('connect', () => socket.write(JSON.stringify(options.request) + '\n'))
    socket.once('error', (error) => {
      if (dispatched) return finish(new RestwireError('RW_ERR_CLOSED', `the connection to the relay at ${where} failed after the request was dispatched: ${error.message}`, {cause: error}))
      const code = errnoCode(error)
      const reason = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOENT' ? 'no such socket' : error.message
      finish(new RestwireError('RW_ERR_CONNECT', `cannot connect to the relay at ${where}: ${reason}`, {cause: error, hint: 'Is `restwire relay start` running, and is --connect its --listen address?'}))
    })
    socket.once('close', () => finish(new RestwireError('RW_ERR_CLOSED', `the relay at ${where} closed the connection before the final reply`)))
  })
}
