// --upstream URL: every event that no other handler takes goes to a local HTTP service with undici,
// bodies streamed both ways. `POST report//q3` becomes `POST <url>/report/q3`; the return code is 0 for
// a 2xx answer, else the HTTP status, and an unreachable service is 251 (the handler raised).
import type {Dispatcher} from 'undici'
import {RestwireError} from '../errors.js'
import {type PipeHandlerSource, jsonReply} from './handlers.js'
import {RETURN_HANDLER_RAISED, RETURN_OK} from './messages.js'

const BODYLESS = new Set(['GET', 'HEAD'])

export interface PipeUpstream {
  source: PipeHandlerSource
  close(): Promise<void>
}

export async function createPipeUpstream(url: string, dispatcher?: Dispatcher): Promise<PipeUpstream> {
  let base: URL
  try {
    base = new URL(url)
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `--upstream is not a URL: "${url}"`, {cause: error})
  }

  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new RestwireError('RW_ERR_USAGE', `--upstream must be an http:// or https:// URL, got "${url}"`)
  const {Agent} = await import('undici')
  const owned = dispatcher ? undefined : new Agent({connections: 128, keepAliveTimeout: 30_000})
  const agent = dispatcher ?? owned!
  const prefix = base.pathname.replace(/\/+$/, '')

  const source: PipeHandlerSource = async (ctx) => {
    const path = [ctx.noun, ...ctx.args].map((part) => part.split('/').map(encodeURIComponent).join('/')).join('/')
    const headers: Record<string, string> = {'x-pipe-peer': ctx.peer}
    if (ctx.contentType) headers['content-type'] = ctx.contentType
    let response: Dispatcher.ResponseData
    try {
      response = await agent.request({
        body: BODYLESS.has(ctx.verb) ? undefined : ctx.body,
        headers,
        method: ctx.verb as Dispatcher.HttpMethod,
        origin: base.origin,
        path: `${prefix}/${path}${base.search}`,
        signal: ctx.signal,
      })
    } catch (error) {
      return jsonReply(RETURN_HANDLER_RAISED, {error: `upstream ${base.origin} failed: ${(error as Error).message}`})
    }

    const ok = response.statusCode >= 200 && response.statusCode < 300
    return {
      body: response.body,
      code: ok ? RETURN_OK : response.statusCode,
      contentType: String(response.headers['content-type'] ?? 'application/octet-stream'),
    }
  }

  return {close: async () => owned?.close(), source}
}
