// Event handlers, RestPipe style: verb GET + noun `time/utc` calls `get_time_utc(ctx, [mimetype, body],
// ...args)`. Sources are tried in order: a --handlers module, --serve-dir (GET file), the built-in
// examples, then --upstream; nothing found is code 255, a handler that throws is 251.
import type {Readable} from 'node:stream'
import {type BodySource, readBody} from './body-stream.js'
import {RETURN_HANDLER_RAISED, RETURN_NO_HANDLER, RETURN_OK} from './messages.js'
import type {EventHandler, IncomingPipeEvent, ReplySpec} from './session.js'

export const DEFAULT_MAX_READ_BYTES = 16 * 1024 * 1024

export interface PipeHandlerContext extends IncomingPipeEvent {
  /** The whole body, refusing more than maxBytes (default 16 MiB). */
  read(maxBytes?: number): Promise<Buffer>
  text(maxBytes?: number): Promise<string>
  json(maxBytes?: number): Promise<unknown>
}

/** `(ctx, [mimetype, body], ...args)`; returns data (code 0) or `[mimetype, code, data]`. */
export type PipeHandlerFunction = (ctx: PipeHandlerContext, post: [string, Readable], ...args: string[]) => unknown

/** A source that may answer an event (serve-dir, upstream); undefined: not mine, try the next. */
export type PipeHandlerSource = (ctx: PipeHandlerContext) => Promise<ReplySpec | undefined> | ReplySpec | undefined

export interface PipeHandlerOptions {
  /** Functions by RestPipe name (`get_time_utc`), from a --handlers module. */
  functions?: Record<string, PipeHandlerFunction>
  /** Tried after functions, in order (serve-dir, built-ins, upstream). */
  sources?: PipeHandlerSource[]
}

/** `GET` + `time/utc` → `get_time_utc`. */
export function handlerName(verb: string, noun: string): string {
  return `${verb.toLowerCase()}_${noun}`.replaceAll(/[^A-Za-z0-9_]+/g, '_').replace(/_+$/, '')
}

export function createPipeHandler(options: PipeHandlerOptions): EventHandler {
  const functions = options.functions ?? {}
  const sources = options.sources ?? []
  return async (event) => {
    const ctx = contextFor(event)
    const name = handlerName(event.verb, event.noun)
    try {
      const fn = Object.hasOwn(functions, name) ? functions[name] : undefined
      if (fn) return toReplySpec(await fn(ctx, [event.contentType ?? 'application/octet-stream', event.body], ...event.args))
      for (const source of sources) {
        const reply = await source(ctx)
        if (reply) return reply
      }
    } catch (error) {
      return jsonReply(RETURN_HANDLER_RAISED, {error: `${name} raised: ${(error as Error)?.message ?? String(error)}`})
    }

    return jsonReply(RETURN_NO_HANDLER, {error: `no handler for ${event.verb} ${event.noun} (${name})`})
  }
}

/** The built-in examples from RestPipe: `get_time` and `get_cat`, named for the side they run on. */
export function builtinSource(side: 'hub' | 'node'): PipeHandlerSource {
  const who = side === 'hub' ? 'server' : 'client'
  const builtins: Record<string, PipeHandlerFunction> = {
    get_cat(_ctx, _post, a, b) {
      if (a === undefined || b === undefined) throw new Error('cat takes two arguments: cat//a/b')
      return {[`result_from_${who}`]: a + b}
    },
    get_time: () => ({[`time_from_${who}`]: Date.now() / 1000}),
  }
  return async (ctx) => {
    const fn = builtins[handlerName(ctx.verb, ctx.noun)]
    return fn ? toReplySpec(await fn(ctx, [ctx.contentType ?? 'application/octet-stream', ctx.body], ...ctx.args)) : undefined
  }
}

function contextFor(event: IncomingPipeEvent): PipeHandlerContext {
  const read = (maxBytes = DEFAULT_MAX_READ_BYTES): Promise<Buffer> => readBody(event.body, maxBytes)
  return {
    ...event,
    async json(maxBytes) {
      const text = (await read(maxBytes)).toString('utf8')
      return text.trim() === '' ? null : (JSON.parse(text) as unknown)
    },
    read,
    text: async (maxBytes) => (await read(maxBytes)).toString('utf8'),
  }
}

export function jsonReply(code: number, value: unknown): ReplySpec {
  return {body: JSON.stringify(value), code, contentType: 'application/json'}
}

/** A handler's return value as a reply: `[mimetype, code, data]`, or data with code 0. */
export function toReplySpec(value: unknown): ReplySpec {
  if (Array.isArray(value) && value.length === 3 && typeof value[0] === 'string' && value[0].includes('/') && Number.isInteger(value[1])) {
    const [contentType, code, data] = value as [string, number, unknown]
    const body = asBody(data)
    return {body: body ?? JSON.stringify(data ?? null), code, contentType}
  }

  if (value === undefined) return {code: RETURN_OK, contentType: 'application/json'}
  if (typeof value === 'string') return {body: value, code: RETURN_OK, contentType: 'text/plain; charset=utf-8'}
  const body = asBody(value)
  if (body !== undefined) return {body, code: RETURN_OK, contentType: 'application/octet-stream'}
  return jsonReply(RETURN_OK, value)
}

/** Bytes, text or a stream pass as they are; anything else is JSON. */
function asBody(data: unknown): BodySource | undefined {
  if (typeof data === 'string' || data instanceof Uint8Array) return data
  if (data && typeof data === 'object' && Symbol.asyncIterator in data) return data as AsyncIterable<Buffer>
  return undefined
}
