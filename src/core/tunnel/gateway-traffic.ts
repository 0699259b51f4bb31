// The tunnel gateway's traffic records: a request toward a node, and a STREAM recorded once when it
// ends (its item count and bytes as the response). Used only when the gateway has a TrafficLog.
import {failureOutcome, jsonBytes} from '../observe/record.js'
import type {TrafficLog} from '../observe/traffic.js'
import type {TunnelStream} from './gateway-session.js'

interface Exchange {
  nodeId: string
  verb: string
  path: string
  data: unknown
  params?: unknown
}

/** Runs `send` and records its answer or failure, direction `out`, peer = the node. */
export async function observeTunnelRequest<T extends {status: number; body: unknown}>(traffic: TrafficLog, exchange: Exchange, send: () => Promise<T>): Promise<T> {
  const started = performance.now()
  const at = Date.now()
  const record = (status: number, body: unknown, error?: string): void => {
    const latencyMs = performance.now() - started
    // Metrics only (no inspector): the fields are counted, no record is built.
    if (!traffic.recording) return traffic.tally('tunnel', 'out', exchange.verb, undefined, status, error, latencyMs, jsonBytes(exchange.data), jsonBytes(body))
    traffic.add({
      at,
      direction: 'out',
      error,
      latencyMs,
      params: exchange.params,
      path: exchange.path,
      peer: exchange.nodeId,
      protocol: 'tunnel',
      request: {bytes: jsonBytes(exchange.data), value: exchange.data},
      response: {bytes: jsonBytes(body), value: body},
      status,
      verb: exchange.verb,
    })
  }

  try {
    const answer = await send()
    record(answer.status, answer.body)
    return answer
  } catch (error) {
    const outcome = failureOutcome(error)
    record(outcome.status, outcome.body, outcome.error)
    throw error
  }
}

/** The stream as it was, recording one STREAM record when it ends, fails or is cancelled (status 499). */
export function observeTunnelStream(traffic: TrafficLog, exchange: Omit<Exchange, 'verb' | 'data'> & {params: unknown}, stream: TunnelStream): TunnelStream {
  const started = performance.now()
  const at = Date.now()
  let items = 0
  let bytes = 0
  let recorded = false
  const record = (status: number, error?: string): void => {
    if (recorded) return
    recorded = true
    traffic.add({
      at,
      direction: 'out',
      error,
      latencyMs: performance.now() - started,
      path: exchange.path,
      peer: exchange.nodeId,
      protocol: 'tunnel',
      request: {bytes: jsonBytes(exchange.params), value: exchange.params},
      response: {bytes, items},
      status,
      verb: 'STREAM',
    })
  }

  return {
    [Symbol.asyncIterator]() {
      const inner = stream[Symbol.asyncIterator]()
      return {
        async next() {
          try {
            const step = await inner.next()
            if (step.done) record(200)
            else {
              items++
              bytes += jsonBytes(step.value)
            }

            return step
          } catch (error) {
            const outcome = failureOutcome(error)
            record(outcome.status, outcome.error)
            throw error
          }
        },
        async return(value?: unknown) {
          record(499)
          return (await inner.return?.(value)) ?? {done: true, value: undefined}
        },
      }
    },
    async cancel() {
      record(499)
      await stream.cancel()
    },
  }
}
