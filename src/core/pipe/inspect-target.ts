// What the inspector asks of a pipe hub: its nodes, and a replay that is one more hub → node event (the
// path a call through the hub's HTTP gateway takes), with the (edited) body; the reply body is read up
// to a bound and counted past it, so a replayed download cannot fill the hub's memory.
import {RestwireError} from '../errors.js'
import type {InspectTarget, ReplayEdit, ReplayOutcome} from '../observe/inspector.js'
import type {TrafficRecord} from '../observe/traffic.js'
import {DEFAULT_EVENT_TIMEOUT_MS} from './defaults.js'
import {parseNounPath} from './gateway.js'
import type {PipeHubHandle} from './hub.js'

/** Reply bytes a replay keeps for the page; the rest is read and counted, up to REPLAY_READ_BYTES. */
const REPLAY_KEEP_BYTES = 256 * 1024
/** A replayed reply longer than this, or still streaming after REPLAY_READ_MS, is cut (a node could stream forever). */
const REPLAY_READ_BYTES = 16 * 1024 * 1024
const REPLAY_READ_MS = 60_000

export function pipeInspectTarget(hub: PipeHubHandle, timeoutMs = DEFAULT_EVENT_TIMEOUT_MS): InspectTarget {
  return {
    name: 'pipe hub',
    peers: () => hub.nodes().map(({address, hub: holder, inFlight, name, since}) => ({address, fingerprint: `certificate CN ${name}`, id: name, inFlight, since, ...(holder ? {holder} : {})})),
    protocol: 'pipe',
    async replay(record: TrafficRecord, edit: ReplayEdit): Promise<ReplayOutcome> {
      if (record.direction !== 'out' || !record.peer) throw new RestwireError('RW_ERR_USAGE', 'only a request the hub sent to a node can be replayed here', {status: 400})
      const parsed = parseNounPath(record.path)
      const args = Array.isArray(record.params) ? record.params.map(String) : parsed.args
      const noun = parsed.noun
      const body = edit.body === undefined ? bodyBytes(record.request.value) : Buffer.from(edit.body)
      const contentType = record.request.headers?.['content-type']
      const reply = await hub.request(record.peer, {args, body: body.length > 0 ? body : undefined, noun, verb: record.verb, ...(contentType ? {contentType} : {})}, {timeoutMs})
      const kept: Buffer[] = []
      let bytes = 0
      const timer = setTimeout(() => reply.body.destroy(), REPLAY_READ_MS)
      try {
        for await (const chunk of reply.body as AsyncIterable<Buffer>) {
          if (bytes < REPLAY_KEEP_BYTES) kept.push(chunk.subarray(0, REPLAY_KEEP_BYTES - bytes))
          bytes += chunk.length
          if (bytes >= REPLAY_READ_BYTES) break
        }
      } catch {
        // cut after REPLAY_READ_MS, or the connection dropped mid-reply: what arrived is the answer shown
      } finally {
        clearTimeout(timer)
        reply.body.destroy()
      }

      return {response: {bytes, headers: {'content-type': reply.contentType, 'x-event-return-code': String(reply.code)}, value: Buffer.concat(kept)}, status: reply.code}
    },
  }
}

function bodyBytes(value: unknown): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0)
  if (Buffer.isBuffer(value)) return value
  if (value instanceof Uint8Array) return Buffer.from(value)
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
}
