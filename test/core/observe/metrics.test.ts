// ServerMetrics alone: records in, counters and bounded labels out, rendered through prom-client and
// read back with a Prometheus text-format parser.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {MAX_SERIES, ServerMetrics, statusClass} from '../../../src/core/observe/metrics.js'
import {renderPrometheus} from '../../../src/core/observe/prometheus.js'
import {type TrafficInput, TrafficLog} from '../../../src/core/observe/traffic.js'
import {Scrape} from '../../helpers/scrape.js'

function record(overrides: Partial<TrafficInput> = {}): TrafficInput {
  return {at: Date.now(), direction: 'in', latencyMs: 3, path: '/users/7', protocol: 'korv', request: {bytes: 10, value: {a: 1}}, response: {bytes: 20}, route: '/users/:id', status: 200, verb: 'GET', ...overrides}
}

describe('ServerMetrics', () => {
  it('counts by verb, route pattern and status class, with bytes, latency, handler errors and timeouts', async () => {
    const log = new TrafficLog({keep: 1})
    const metrics = new ServerMetrics({protocol: 'korv'})
    metrics.attach(log)
    log.add(record())
    log.add(record({latencyMs: 700}))
    log.add(record({status: 500}))
    log.add(record({error: 'RW_ERR_TIMEOUT', status: 0}))
    log.add(record({direction: 'out', request: {bytes: 5}, response: {bytes: 7}}))
    const scrape = new Scrape((await renderPrometheus(metrics)).text)
    assert.equal(scrape.value('restwire_requests_total', {direction: 'in', route: '/users/:id', status_class: '2xx'}), 2)
    assert.equal(scrape.value('restwire_requests_total', {status_class: '5xx'}), 1)
    assert.equal(scrape.value('restwire_requests_total', {status_class: 'none'}), 1)
    assert.equal(scrape.value('restwire_handler_errors_total'), 1)
    assert.equal(scrape.value('restwire_timeouts_total'), 1)
    assert.equal(scrape.value('restwire_bytes_received_total'), 4 * 10 + 7)
    assert.equal(scrape.value('restwire_bytes_sent_total'), 4 * 20 + 5)
    const buckets = scrape.buckets('restwire_request_duration_seconds', {direction: 'in', route: '/users/:id'})
    assert.equal(buckets['0.005'], 3)
    assert.equal(buckets['1'], 4)
    assert.equal(buckets['+Inf'], 4)
  })

  it('counts a tally (no record built) exactly as it counts the same request as a record', async () => {
    const requests: TrafficInput[] = [
      record(), record({latencyMs: 700}), record({status: 500}), record({error: 'RW_ERR_TIMEOUT', status: 0}), record({status: 504}),
      record({direction: 'out', request: {bytes: 5}, response: {bytes: 7}}), record({route: undefined, verb: 'STORE'}),
      record({protocol: 'pipe', route: 'echo', status: 0, verb: 'POST'}), record({protocol: 'pipe', route: 'echo', status: 251, verb: 'POST'}),
    ]
    const recorded = new TrafficLog({keep: 10})
    const tallied = new TrafficLog({keep: 1})
    assert.equal(recorded.recording, true, 'a log keeping records wants them built')
    assert.equal(tallied.recording, false, 'a counting-only log does not')
    const byRecord = new ServerMetrics({protocol: 'korv'})
    const byTally = new ServerMetrics({protocol: 'korv'})
    byRecord.attach(recorded)
    const detach = byTally.attach(tallied)
    for (const each of requests) {
      recorded.add({...each, request: {...each.request}, response: {...each.response}})
      tallied.tally(each.protocol, each.direction, each.verb, each.route, each.status, each.error, each.latencyMs, each.request.bytes, each.response.bytes)
    }

    const ours = async (metrics: ServerMetrics): Promise<string> => (await renderPrometheus(metrics)).text.split('\n').filter((line) => line.includes('restwire_')).join('\n')
    assert.equal(await ours(byTally), await ours(byRecord))
    detach()
    tallied.tally('korv', 'in', 'GET', '/users/:id', 200, undefined, 1, 1, 1)
    assert.equal(await ours(byTally), await ours(byRecord), 'a detached counter counts no more')
    const unsubscribe = tallied.subscribe(() => {})
    assert.equal(tallied.recording, true, 'a subscriber wants records')
    unsubscribe()
  })

  it('a counter that throws breaks neither the log nor the other counters', async () => {
    const log = new TrafficLog({keep: 1})
    const faulty = {count() { throw new Error('broken counter') }, tally() { throw new Error('broken counter') }}
    const metrics = new ServerMetrics({protocol: 'korv'})
    log.addCounter(faulty)
    metrics.attach(log)
    log.tally('korv', 'in', 'GET', '/users/:id', 200, undefined, 1, 2, 3)
    log.add(record())
    const scrape = new Scrape((await renderPrometheus(metrics)).text)
    assert.equal(scrape.value('restwire_requests_total', {status_class: '2xx'}), 2)
  })

  it('keeps labels bounded: past MAX_SERIES (route, verb) pairs, new ones count as "other"', async () => {
    const metrics = new ServerMetrics({protocol: 'pipe'})
    for (let i = 0; i < MAX_SERIES + 500; i++) metrics.count({...record({protocol: 'pipe', route: `noun-${i}`, status: 0}), id: i})
    const scrape = new Scrape((await renderPrometheus(metrics)).text)
    const series = scrape.family('restwire_requests_total')!.metrics
    assert.equal(series.length, MAX_SERIES + 1)
    assert.equal(scrape.value('restwire_requests_total', {route: 'other', verb: 'other'}), 500)
    assert.equal(scrape.value('restwire_requests_total', {status_class: 'ok'}), MAX_SERIES + 500)
  })

  it('names status classes for HTTP-like codes, pipe return codes and missing answers', () => {
    assert.equal(statusClass({protocol: 'korv', status: 404}), '4xx')
    assert.equal(statusClass({protocol: 'korv', status: 0}), 'none')
    assert.equal(statusClass({protocol: 'pipe', status: 0}), 'ok')
    assert.equal(statusClass({protocol: 'pipe', status: 251}), 'event_error')
    assert.equal(statusClass({error: 'RW_ERR_CLOSED', protocol: 'pipe', status: 0}), 'none')
  })

  it('a log without bodies drops them, without copying the record', () => {
    const log = new TrafficLog()
    const input = record()
    const kept = log.add(input)
    assert.equal(kept.request.value, undefined)
    assert.equal(kept.id, 1)
    assert.deepEqual(log.recent(), [kept])
  })

  it('reads connection, refusal and cluster gauges at scrape time', async () => {
    let open = 3
    const metrics = new ServerMetrics({cluster: () => ({hubs: 2, remoteNodes: 5, state: 'degraded'}), connections: () => ({authenticating: 1, open, peers: 4, queues: [{depth: 5, highWater: 70, queue: 'partial_request_bytes'}]}), protocol: 'tunnel', refusedCounted: () => ({cap: 2})})
    metrics.refusedConnection('grace')
    metrics.refusedConnection('cap')
    metrics.redialed()
    open = 9
    const scrape = new Scrape((await renderPrometheus(metrics)).text)
    assert.equal(scrape.value('restwire_connections_open'), 9)
    assert.equal(scrape.value('restwire_connections_authenticating'), 1)
    assert.equal(scrape.value('restwire_peers_connected'), 4)
    assert.equal(scrape.value('restwire_connections_refused_total', {reason: 'cap'}), 3)
    assert.equal(scrape.value('restwire_connections_refused_total', {reason: 'grace'}), 1)
    assert.equal(scrape.value('restwire_redials_total'), 1)
    assert.equal(scrape.value('restwire_queue_depth', {queue: 'partial_request_bytes'}), 5)
    assert.equal(scrape.value('restwire_queue_high_water', {queue: 'partial_request_bytes'}), 70)
    assert.equal(scrape.value('restwire_cluster_connected'), 0)
    assert.equal(scrape.value('restwire_cluster_hubs'), 2)
    assert.equal(scrape.value('restwire_cluster_remote_nodes'), 5)
  })
})
