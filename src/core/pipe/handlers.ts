// Event handlers, RestPipe style: verb GET + noun `time/utc` calls `get_time_utc(ctx, [mimetype, body],
// ...args)`. Sources are tried in order: a --handlers module, --serve-dir (GET file), the built-in
// examples, then --upstream; nothing found is code 255, a handler that throws is 251.
import type {Readable} from 'node:stream'
import {stringifyJson} from '../json.js'
import type {BodySource} from './body-stream.js'
import {errorText, RETURN_HANDLER_RAISED, RETURN_NO_HANDLER, RETURN_OK} from './messages.js'
import {DEFAULT_MAX_READ_BYTES, type EventHandler, type IncomingPipeEvent, type ReplySpec} from './session.js'


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
  // Names repeat (a service has a handful of nouns): remember them, by verb then noun (no key string
  // built per event), up to a bound, each with the reactions that turn its function's result into a
  // reply (no closures per event).
  const routes = new Map<string, Map<string, Route>>()
  let remembered = 0
  return (event) => {
    const ctx = contextFor(event)
    let byNoun = routes.get(event.verb)
    let route = byNoun?.get(event.noun)
    if (route === undefined) {
      route = new Route(handlerName(event.verb, event.noun))
      if (remembered >= 1024) {
        routes.clear()
        remembered = 0
        byNoun = undefined
      }

      if (!byNoun) routes.set(event.verb, (byNoun = new Map()))
      byNoun.set(event.noun, route)
      remembered++
    }

    const {name} = route
    // No async function per event: a function's result becomes the reply at once, or for a promise in
    // one reaction (a throw, a rejection or a result that is no reply: 'raised', as before).
    let value: unknown
    try {
      const fn = Object.hasOwn(functions, name) ? functions[name] : undefined
      if (!fn) return fromSources(ctx, sources, name)
      // No spread call for the usual event without arguments.
      value = event.args.length === 0 ? fn(ctx, postOf(ctx)) : fn(ctx, postOf(ctx), ...event.args)
    } catch (error) {
      return raised(name, error)
    }

    return isThenable(value) ? Promise.resolve(value).then(route.replied, route.failed) : replyOf(name, value)
  }
}

/** A handler name and the reactions to its function's promise, made once per name. */
class Route {
  readonly replied: (value: unknown) => ReplySpec
  readonly failed: (error: unknown) => ReplySpec

  constructor(readonly name: string) {
    this.replied = (value) => replyOf(name, value)
    this.failed = (error) => raised(name, error)
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  if (value instanceof Promise) return true
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as {then?: unknown}).then === 'function'
}

function replyOf(name: string, value: unknown): ReplySpec {
  try {
    return toReplySpec(value)
  } catch (error) {
    return raised(name, error)
  }
}

function raised(name: string, error: unknown): ReplySpec {
  return jsonReply(RETURN_HANDLER_RAISED, {error: `${name} raised: ${errorText(error)}`})
}

/** No function by that name: the sources in order, then 'no handler'. */
async function fromSources(ctx: PipeHandlerContext, sources: PipeHandlerSource[], name: string): Promise<ReplySpec> {
  try {
    for (const source of sources) {
      const reply = await source(ctx)
      if (reply) return reply
    }
  } catch (error) {
    return raised(name, error)
  }

  return jsonReply(RETURN_NO_HANDLER, {error: `no handler for ${ctx.verb} ${ctx.noun} (${name})`})
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
    return fn ? toReplySpec(await fn(ctx, postOf(ctx), ...ctx.args)) : undefined
  }
}

/** `[mimetype, body]` for a handler, with the body stream made only if the handler looks at it. */
class LazyPost {
  readonly length = 2

  constructor(private readonly ctx: PipeHandlerContext) {}

  get 0(): string {
    return this.ctx.contentType ?? 'application/octet-stream'
  }

  get 1(): Readable {
    return this.ctx.body
  }

  *[Symbol.iterator](): Generator<string | Readable> {
    yield this[0]
    yield this[1]
  }
}

function postOf(ctx: PipeHandlerContext): [string, Readable] {
  return new LazyPost(ctx) as unknown as [string, Readable]
}

/** The handler's view of an event, with read helpers; `body` and `signal` stay lazy. */
class HandlerContext implements PipeHandlerContext {
  readonly verb: string
  readonly noun: string
  readonly args: string[]
  readonly contentType: string | undefined
  readonly peer: string

  constructor(private readonly event: IncomingPipeEvent) {
    this.verb = event.verb
    this.noun = event.noun
    this.args = event.args
    this.contentType = event.contentType
    this.peer = event.peer
  }

  get body(): Readable {
    return this.event.body
  }

  get signal(): AbortSignal {
    return this.event.signal
  }

  read(maxBytes = DEFAULT_MAX_READ_BYTES): Promise<Buffer> {
    return this.event.read(maxBytes)
  }

  async text(maxBytes?: number): Promise<string> {
    return (await this.read(maxBytes)).toString('utf8')
  }

  async json(maxBytes?: number): Promise<unknown> {
    const text = await this.text(maxBytes)
    return text.trim() === '' ? null : (JSON.parse(text) as unknown)
  }
}

/** The session's events already are contexts (text, json); other event sources get a wrapper. */
function contextFor(event: IncomingPipeEvent): PipeHandlerContext {
  const maybe = event as Partial<PipeHandlerContext>
  return typeof maybe.text === 'function' && typeof maybe.json === 'function' ? (event as PipeHandlerContext) : new HandlerContext(event)
}

/** A JSON reply; a value that cannot be JSON (too deep, BigInt, a cycle) is RW_ERR_JSON, thrown. */
export function jsonReply(code: number, value: unknown): ReplySpec {
  return {body: stringifyJson(value, 'the reply'), code, contentType: 'application/json'}
}

/** A handler's return value as a reply: `[mimetype, code, data]`, or data with code 0. */
export function toReplySpec(value: unknown): ReplySpec {
  if (Array.isArray(value) && value.length === 3 && typeof value[0] === 'string' && value[0].includes('/') && Number.isInteger(value[1])) {
    const [contentType, code, data] = value as [string, number, unknown]
    const body = asBody(data)
    return {body: body ?? stringifyJson(data ?? null, 'the reply'), code, contentType}
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
