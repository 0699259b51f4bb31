// A request handler that forwards each request to a local HTTP service with undici: path, query and
// JSON body kept; the HTTP status and body mapped back. Errors reaching the service become 502/504.
import type {Dispatcher} from 'undici'
import {RestwireError} from '../errors.js'
import type {RequestHandler, RwRequest, RwResponse} from './request.js'

export const DEFAULT_UPSTREAM_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

export interface HttpUpstreamOptions {
  /** Base URL; the request path is appended to its path. */
  url: string
  /** The HTTP method for a protocol verb (korv: STORE → POST). */
  methodFor: (verb: string) => string
  /** Connection pool to use; default: a keep-alive undici Agent owned by the upstream. */
  dispatcher?: Dispatcher
  maxResponseBytes?: number
}

export interface HttpUpstream {
  handler: RequestHandler
  close(): Promise<void>
}

export async function createHttpUpstream(options: HttpUpstreamOptions): Promise<HttpUpstream> {
  let base: URL
  try {
    base = new URL(options.url)
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `--upstream is not a URL: "${options.url}"`, {cause: error})
  }

  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new RestwireError('RW_ERR_USAGE', `--upstream must be an http:// or https:// URL, got "${options.url}"`)
  }

  const {Agent} = await import('undici')
  const owned = options.dispatcher ? undefined : new Agent({connections: 128, keepAliveTimeout: 30_000})
  const dispatcher = options.dispatcher ?? owned!
  const prefix = base.pathname.replace(/\/+$/, '')
  const maxBytes = options.maxResponseBytes ?? DEFAULT_UPSTREAM_MAX_RESPONSE_BYTES

  const handler = async (request: RwRequest): Promise<RwResponse> => {
    const method = options.methodFor(request.verb)
    const query = request.resource.includes('?') ? request.resource.slice(request.resource.indexOf('?')) : ''
    const path = prefix + (request.path.startsWith('/') ? request.path : '/' + request.path) + query
    const headers: Record<string, string> = {accept: 'application/json'}
    if (request.client.fingerprint) headers['x-restwire-client-key'] = request.client.fingerprint
    const sendsBody = method !== 'GET' && method !== 'HEAD' && request.body !== null && request.body !== undefined
    if (sendsBody) headers['content-type'] = 'application/json'
    let response: Dispatcher.ResponseData
    try {
      response = await dispatcher.request({
        body: sendsBody ? JSON.stringify(request.body) : undefined,
        headers,
        method: method as Dispatcher.HttpMethod,
        origin: base.origin,
        path,
        signal: request.signal,
      })
    } catch (error) {
      if (request.signal.aborted) throw error
      return {body: {error: `upstream ${base.origin} unreachable: ${(error as Error).message}`}, status: 502}
    }

    const declared = Number(response.headers['content-length'] ?? 0)
    if (declared > maxBytes) {
      response.body.destroy()
      return {body: {error: `upstream response of ${declared} bytes exceeds the ${maxBytes} byte limit`}, status: 502}
    }

    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length
      if (size > maxBytes) {
        response.body.destroy()
        return {body: {error: `upstream response exceeds the ${maxBytes} byte limit`}, status: 502}
      }

      chunks.push(chunk as Buffer)
    }

    return {body: decodeBody(Buffer.concat(chunks).toString('utf8'), String(response.headers['content-type'] ?? '')), status: response.statusCode}
  }

  return {close: async () => owned?.close(), handler}
}

function decodeBody(text: string, contentType: string): unknown {
  if (text === '') return null
  if (/\bjson\b/i.test(contentType)) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }

  return text
}
