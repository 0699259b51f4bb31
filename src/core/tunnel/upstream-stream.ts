// STREAM over `tunnel expose --upstream`: a streamed HTTP GET to the service, its NDJSON lines or
// Server-Sent Events `data:` records yielded as stream items; the node's cancel aborts the request.
import type {Dispatcher} from 'undici'
import {RestwireError, StatusError} from '../errors.js'
import {NdjsonDecoder} from '../framing/ndjson.js'
import type {Handler, RwRequest} from '../message/request.js'

export interface UpstreamStreamOptions {
  /** Base URL; the request path is appended to its path. */
  url: string
  dispatcher: Dispatcher
}

export function createUpstreamStreamHandler(options: UpstreamStreamOptions): Handler {
  const base = new URL(options.url)
  const prefix = base.pathname.replace(/\/+$/, '')
  return async (request: RwRequest) => {
    const query = request.resource.includes('?') ? request.resource.slice(request.resource.indexOf('?')) : ''
    const response = await options.dispatcher.request({
      headers: {accept: 'application/x-ndjson, text/event-stream'},
      method: 'GET',
      origin: base.origin,
      path: prefix + (request.path.startsWith('/') ? request.path : '/' + request.path) + query,
      signal: request.signal,
    })
    if (response.statusCode < 200 || response.statusCode > 299) {
      const text = (await response.body.text()).slice(0, 500)
      throw new StatusError(response.statusCode, `upstream ${base.origin} answered the stream with ${response.statusCode}: ${text}`, {body: text})
    }

    const sse = /text\/event-stream/i.test(String(response.headers['content-type'] ?? ''))
    return streamItems(response.body, sse)
  }
}

/** Items from NDJSON lines, or from SSE records (`data:` lines joined, sent on a blank line). */
async function* streamItems(body: AsyncIterable<unknown> & {destroy(): unknown}, sse: boolean): AsyncGenerator<unknown> {
  const ready: unknown[] = []
  let data: string[] = []
  let failure: RestwireError | undefined
  const onText = (text: string): void => {
    if (!sse) {
      ready.push(parseItem(text))
      return
    }

    if (text.startsWith('data:')) data.push(text.slice(text[5] === ' ' ? 6 : 5))
    else if (text === '' && data.length > 0) {
      ready.push(parseItem(data.join('\n')))
      data = []
    }
  }

  // SSE records end with a blank line, which NdjsonDecoder skips: split lines here instead.
  const decoder = sse ? undefined : new NdjsonDecoder({onError: (error) => (failure = error), onLine: (line) => onText(line.toString('utf8'))})
  let pending = ''
  try {
    for await (const chunk of body) {
      if (decoder) decoder.push(chunk as Buffer)
      else {
        pending += (chunk as Buffer).toString('utf8')
        let end: number
        while ((end = pending.indexOf('\n')) !== -1) {
          onText(pending.slice(0, end).replace(/\r$/, ''))
          pending = pending.slice(end + 1)
        }
      }

      if (failure) throw failure
      yield* ready.splice(0)
    }

    if (sse) onText('')
    yield* ready.splice(0)
  } finally {
    body.destroy()
  }
}

function parseItem(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
