// Starts real pipe hubs and nodes on 127.0.0.1 for tests, and collects their events.
import {createHash} from 'node:crypto'
import {type PipeHubEvent, type PipeHubHandle, type PipeHubOptions, startPipeHub} from '../../src/core/pipe/hub.js'
import {type PipeNodeEvent, type PipeNodeHandle, type PipeNodeOptions, connectPipeNode} from '../../src/core/pipe/node.js'
import {readBody} from '../../src/core/pipe/body-stream.js'
import {type PipeHandlerFunction, builtinSource, createPipeHandler} from '../../src/core/pipe/handlers.js'
import type {PipeReply} from '../../src/core/pipe/session.js'
import type {PipePki} from './pipe-pki.js'

export const FAST_BACKOFF = {initialMs: 20, maxMs: 200}

export interface EventLog<T> {
  events: T[]
  onEvent: (event: T) => void
  /** Resolves with the first event (past or future) that matches. */
  next(match: (event: T) => boolean, from?: number): Promise<T>
}

export function eventLog<T>(): EventLog<T> {
  const listeners: Array<() => void> = []
  const log: EventLog<T> = {
    events: [],
    async next(match, from = 0) {
      for (;;) {
        const found = log.events.slice(from).find(match)
        if (found) return found
        await new Promise<void>((resolve) => listeners.push(resolve))
      }
    },
    onEvent(event) {
      log.events.push(event)
      for (const listener of listeners.splice(0)) listener()
    },
  }
  return log
}

/** A handler function: the sha256 and size of the event body, read as it streams. */
export const postSha: PipeHandlerFunction = async (ctx) => {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of ctx.body) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }

  return {bytes, sha: hash.digest('hex')}
}

let releaseGate: () => void = () => {}
const gate = new Promise<void>((resolve) => (releaseGate = resolve))

export const testFunctions: Record<string, PipeHandlerFunction> = {
  /** Answers only once post_release has run (in the same process). */
  get_blocked: () => gate.then(() => ({released: true})),
  post_release() {
    releaseGate()
    return {ok: true}
  },
  async post_echo(ctx) {
    return [ctx.contentType ?? 'application/octet-stream', 0, await ctx.read(64 * 1024 * 1024)]
  },
  get_fail() {
    throw new Error('the handler broke')
  },
  get_hang: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null))),
  get_whoami: (ctx) => ({peer: ctx.peer}),
  /** N MiB of a repeating byte pattern, streamed: more than one flow-control window. */
  get_big: (_ctx, _post, mib) =>
    (async function* () {
      const block = Buffer.alloc(1024 * 1024)
      for (let i = 0; i < block.length; i++) block[i] = i & 0xff
      for (let i = 0; i < Number(mib); i++) yield block
    })(),
}

export async function startTestHub(pki: PipePki, overrides: Partial<PipeHubOptions> = {}): Promise<{hub: PipeHubHandle; log: EventLog<PipeHubEvent>}> {
  const log = eventLog<PipeHubEvent>()
  const hub = await startPipeHub({
    handler: createPipeHandler({functions: testFunctions, sources: [builtinSource('hub')]}),
    heartbeatMs: 200,
    identity: await pki.identity('hub'),
    onEvent: log.onEvent,
    port: 0,
    ...overrides,
  })
  return {hub, log}
}

export async function startTestNode(
  pki: PipePki,
  port: number,
  overrides: Partial<PipeNodeOptions> & {name?: string} = {},
): Promise<{node: PipeNodeHandle; log: EventLog<PipeNodeEvent>}> {
  const log = eventLog<PipeNodeEvent>()
  const {name = 'node-a', ...rest} = overrides
  const node = connectPipeNode({
    backoff: FAST_BACKOFF,
    handler: createPipeHandler({functions: testFunctions, sources: [builtinSource('node')]}),
    heartbeatMs: 200,
    hubName: 'hub',
    identity: await pki.identity(name),
    onEvent: log.onEvent,
    to: {host: '127.0.0.1', port},
    ...rest,
  })
  return {log, node}
}

export async function replyText(reply: PipeReply): Promise<string> {
  return (await readBody(reply.body, 64 * 1024 * 1024)).toString('utf8')
}

export async function replyJson(reply: PipeReply): Promise<unknown> {
  return JSON.parse(await replyText(reply)) as unknown
}
