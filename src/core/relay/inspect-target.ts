// What the inspector asks of a relay: a replay that is one more request line on the relay's own socket
// (the path a real client's line takes, so it is logged and recorded like one). A record's body is the
// line's input, `{"params": ..., "data": ...}`; an edited body is that object. Its peers are the relay's
// client sockets.
import {RestwireError} from '../errors.js'
import type {InspectTarget, ReplayEdit, ReplayOutcome} from '../observe/inspector.js'
import {clientPeers} from '../observe/traffic-view.js'
import {jsonBytes} from '../observe/record.js'
import type {ConnectedClients, TrafficRecord} from '../observe/traffic.js'
import {jsonValue, parseEdited} from '../tunnel/inspect-target.js'
import {parseRelayAddress} from './address.js'
import {sendRelayRequest} from './client.js'

/** A replay waits this long for the relay's final reply (its own templates bound the HTTP exchange). */
const REPLAY_TIMEOUT_MS = 120_000

export function relayInspectTarget(relay: {address: string; clients(limit: number): ConnectedClients}): InspectTarget {
  return {
    name: 'relay',
    ...clientPeers((limit) => relay.clients(limit)),
    protocol: 'relay',
    async replay(record: TrafficRecord, edit: ReplayEdit): Promise<ReplayOutcome> {
      if (!record.route) throw new RestwireError('RW_ERR_USAGE', 'only a request the config names can be replayed', {status: 400})
      const input = edit.body === undefined ? jsonValue(record.request.value) : parseEdited(edit.body)
      if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
        throw new RestwireError('RW_ERR_USAGE', 'the body of a relay request is an object {"params": {...}, "data": ...}', {status: 400})
      }

      const {data, params} = (input ?? {}) as {params?: Record<string, unknown>; data?: unknown}
      const {reply} = await sendRelayRequest({
        address: parseRelayAddress(relay.address, 'listen'),
        request: {data, id: `inspector-replay-${record.id}`, params, request: record.route},
        timeoutMs: REPLAY_TIMEOUT_MS,
      })
      const value = {headers: reply.headers, response: reply.response, status: reply.status}
      return {response: {bytes: jsonBytes(value), value}, status: reply.http_status ?? 0, ...(reply.status === 'error' ? {error: errorCode(reply.response)} : {})}
    },
  }
}

function errorCode(response: unknown): string {
  const code = (response as {code?: unknown} | null)?.code
  return typeof code === 'string' ? code : 'RW_ERR_RELAY_UPSTREAM'
}
