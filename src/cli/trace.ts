// The `-v` trace on stderr, like curl -v: `* ` for what happens, `> ` for what is sent, `< ` for what is
// received; dim when stderr is coloured. Loaded only when -v is given (the commands import it lazily).
import {subscribe, unsubscribe} from 'node:diagnostics_channel'
import {type OnTrace, type TraceKind, elapsedMs, maskHeaderValue} from '../core/trace.js'
import {stderrColors as c} from './output.js'

const PREFIX: Record<TraceKind, string> = {info: '* ', recv: '< ', send: '> '}

export function createTraceWriter(): OnTrace {
  return (kind, text) => {
    for (const line of text.split('\n')) process.stderr.write(c.dim(PREFIX[kind] + line) + '\n')
  }
}

/** Writes `name: value` lines, credential values masked. */
export function traceHeaders(trace: OnTrace, kind: TraceKind, headers: Iterable<[string, string]>): void {
  for (const [name, value] of headers) trace(kind, `${name}: ${maskHeaderValue(name, value)}`)
}

export const byteCount = (bytes: number): string => `${bytes} byte${bytes === 1 ? '' : 's'}`

export interface HttpTrace {
  /** Stops tracing (after the response body was read, or on failure). Safe to call twice. */
  end(): void
}

interface ConnectMessage {
  connectParams: {hostname: string; port: string; protocol: string}
  socket?: {remoteAddress?: string; remotePort?: number}
  error?: Error
}

/**
 * Traces the HTTP exchanges undici makes from now until end(): the address, connect time, the request
 * line and headers as written on the socket, the status line and headers, time to first byte. Through
 * undici's diagnostics channels, so the request code stays as it is. Bodies are shown as sizes only.
 */
export function startHttpTrace(trace: OnTrace): HttpTrace {
  const started = performance.now()
  let connecting = started
  let sent = started
  let sentBytes = 0
  let receivedBytes = 0
  let finished = false
  const finish = (): void => {
    if (finished) return
    finished = true
    trace('info', `Total ${elapsedMs(started)}`)
  }

  const handlers: Record<string, (message: unknown) => void> = {
    'undici:client:beforeConnect'(message) {
      const {hostname, port, protocol} = (message as ConnectMessage).connectParams
      connecting = performance.now()
      trace('info', `Trying ${hostname} port ${port || (protocol === 'https:' ? 443 : 80)}...`)
    },
    'undici:client:connected'(message) {
      const {connectParams, socket} = message as ConnectMessage
      trace('info', `Connected to ${connectParams.hostname} (${socket?.remoteAddress ?? '?'}) port ${socket?.remotePort ?? connectParams.port} (connect ${elapsedMs(connecting)})`)
    },
    'undici:client:connectError'(message) {
      trace('info', `Connection failed: ${(message as ConnectMessage).error?.message ?? 'unknown error'} (after ${elapsedMs(connecting)})`)
    },
    'undici:client:sendHeaders'(message) {
      sent = performance.now()
      const [requestLine = '', ...lines] = (message as {headers: string}).headers.split('\r\n').filter((line) => line !== '')
      trace('send', requestLine)
      traceHeaders(trace, 'send', lines.map(splitHeader))
    },
    'undici:request:bodyChunkSent'(message) {
      sentBytes += (message as {chunk: Uint8Array | string}).chunk.length
    },
    'undici:request:bodySent'() {
      if (sentBytes > 0) trace('send', `[${byteCount(sentBytes)} of body]`)
    },
    'undici:request:bodyChunkReceived'(message) {
      receivedBytes += (message as {chunk: Uint8Array}).chunk.length
    },
    'undici:request:trailers'() {
      trace('recv', `[${byteCount(receivedBytes)} of body]`)
      finish()
    },
    'undici:request:error'(message) {
      trace('info', `Request failed: ${(message as {error?: Error}).error?.message ?? 'unknown error'}`)
    },
    'undici:request:headers'(message) {
      const {response} = message as {response: {statusCode: number; statusText: string; headers: Buffer[]}}
      trace('recv', `HTTP/1.1 ${response.statusCode} ${response.statusText}`.trimEnd())
      const pairs: Array<[string, string]> = []
      for (let i = 0; i + 1 < response.headers.length; i += 2) pairs.push([String(response.headers[i]), String(response.headers[i + 1])])
      traceHeaders(trace, 'recv', pairs)
      trace('info', `First byte after ${elapsedMs(sent)}`)
    },
  }
  for (const [name, handler] of Object.entries(handlers)) subscribe(name, handler)
  let ended = false
  return {
    end() {
      if (ended) return
      ended = true
      for (const [name, handler] of Object.entries(handlers)) unsubscribe(name, handler)
      finish()
    },
  }
}

function splitHeader(line: string): [string, string] {
  const colon = line.indexOf(':')
  return colon === -1 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).trim()]
}
