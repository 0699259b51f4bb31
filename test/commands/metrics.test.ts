// /metrics, /healthz and /readyz of `korv serve --metrics` and `relay start --metrics`: the built CLI in
// child processes, scraped with a Prometheus text-format parser; the counters move with the traffic sent.
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {type Server, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type CliProcess, type ServeProcess, restwire, spawnCli, startServe} from '../helpers/cli.js'
import {eventually, health, scrape} from '../helpers/scrape.js'
import {makeKeyWithSshKeygen, useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout} from '../helpers/tools.js'

/** The base URL from a server's "metrics listening" log line. */
async function metricsBase(cli: CliProcess): Promise<string> {
  const line = await cli.waitForLog(/"event":"metrics listening"/)
  return String(line.metrics).replace(/\/metrics$/, '')
}

describe('korv serve --metrics', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-metrics-korv-')
  let env: Record<string, string>
  let serve: ServeProcess
  let base: string

  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home')}
    serve = await startServe(['--demo', '--metrics', '127.0.0.1:0'], env)
    base = await metricsBase(serve)
  })
  after(async () => {
    await serve?.stop('SIGKILL')
  })

  it('answers /healthz and /readyz, and 404 elsewhere on the metrics port', async () => {
    assert.equal((await health(base, '/healthz')).status, 200)
    const ready = await health(base, '/readyz')
    assert.equal(ready.status, 200)
    assert.match(ready.text, /ready: listening/)
    assert.equal((await fetch(`${base}/nope`)).status, 404)
    assert.equal((await fetch(`${base}/metrics`, {method: 'POST'})).status, 405)
  })

  it('counts requests by verb, route pattern and status class, with latency, bytes and connections', async () => {
    const before = await scrape(base)
    const hello = {protocol: 'korv', route: '/hello', status_class: '2xx', verb: 'GET'}
    for (let i = 0; i < 3; i++) assert.equal((await restwire(['korv', 'call', 'GET', '/hello', '--to', String(serve.port)], env)).code, 0)
    assert.equal((await restwire(['korv', 'call', 'GET', '/no/such/thing', '--to', String(serve.port)], env)).code, 8)
    const echo = await restwire(['korv', 'call', 'STORE', '/echo', '--to', String(serve.port), '--data', JSON.stringify({pad: 'x'.repeat(2000)})], env)
    assert.equal(echo.code, 0, echo.stderr)

    await eventually(async () => {
      const now = await scrape(base)
      assert.equal(now.value('restwire_requests_total', hello) - before.value('restwire_requests_total', hello), 3)
      assert.equal(now.value('restwire_requests_total', {route: 'other', status_class: '4xx'}) - before.value('restwire_requests_total', {route: 'other', status_class: '4xx'}), 1)
      assert.equal(now.value('restwire_requests_total', {route: '/echo', verb: 'STORE'}) - before.value('restwire_requests_total', {route: '/echo', verb: 'STORE'}), 1)
      const latency = now.buckets('restwire_request_duration_seconds', {route: '/hello', verb: 'GET'})
      assert.ok(latency['+Inf']! >= 3)
      assert.ok(latency['0.001']! <= latency['0.1']! && latency['0.1']! <= latency['+Inf']!, 'buckets are cumulative')
      // The 2000-byte body went in and came back (gzip members on the wire are smaller, but not nothing).
      assert.ok(now.value('restwire_bytes_received_total') - before.value('restwire_bytes_received_total') > 50)
      assert.ok(now.value('restwire_bytes_sent_total') - before.value('restwire_bytes_sent_total') > 50)
    })
    const now = await scrape(base)
    assert.equal(now.value('restwire_connections_open'), 0, 'every korv call has disconnected')
    assert.equal(now.value('restwire_connections_authenticating'), 0)
    assert.ok(now.family('process_cpu_seconds_total'), 'prom-client default process metrics are there too')
  })

  it('counts a refused key as restwire_connections_refused_total{reason="auth"}', {skip: skipWithout('ssh-keygen')}, async () => {
    const stranger = await makeKeyWithSshKeygen(dir(), 'stranger', 'ed25519')
    const before = (await scrape(base)).value('restwire_connections_refused_total', {reason: 'auth'})
    const refused = await restwire(['korv', 'call', 'GET', '/hello', '--to', String(serve.port), '-i', stranger], env)
    assert.notEqual(refused.code, 0)
    await eventually(async () => assert.ok((await scrape(base)).value('restwire_connections_refused_total', {reason: 'auth'}) > before))
  })

  it('prom-client is loaded by the first scrape only, never by korv call', async () => {
    const debug = {...env, NODE_DEBUG: 'module'}
    const call = await restwire(['korv', 'call', 'GET', '/hello', '--to', String(serve.port)], debug)
    assert.equal(call.code, 0)
    assert.ok(!call.stderr.includes('prom-client'), 'korv call never reads prom-client')
    const fresh = await startServe(['--demo', '--metrics', '127.0.0.1:0'], debug)
    try {
      const freshBase = await metricsBase(fresh)
      assert.equal((await health(freshBase, '/healthz')).status, 200)
      assert.ok(!fresh.stderr.some((line) => line.includes('prom-client')), 'not loaded before a scrape')
      await scrape(freshBase)
      await eventually(async () => assert.ok(fresh.stderr.some((line) => line.includes('prom-client'))))
    } finally {
      await fresh.stop('SIGKILL')
    }
  })

  it('korv serve without --metrics opens no metrics port', async () => {
    const plain = await startServe(['--demo'], {RESTWIRE_HOME: join(dir(), 'home')})
    try {
      assert.ok(!plain.stderr.some((line) => line.includes('metrics listening')))
    } finally {
      await plain.stop('SIGKILL')
    }
  })
})

describe('relay start --metrics', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-metrics-relay-')
  let upstream: Server
  let relay: CliProcess
  let address: string
  let base: string

  before(async () => {
    upstream = createServer((req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : 200, {'content-type': 'application/json'})
      res.end(JSON.stringify({path: req.url}))
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    const config = join(dir(), 'relay.json')
    writeFileSync(config, JSON.stringify({requests: {missing: {method: 'GET', url: `${origin}/missing`}, ping: {method: 'GET', url: `${origin}/ping`}}}))
    relay = spawnCli(['relay', 'start', '--config', config, '--listen', 'tcp://127.0.0.1:0', '--metrics', '127.0.0.1:0', '--log-format', 'json'])
    base = await metricsBase(relay)
    address = String((await relay.waitForLog(/"event":"listening"/)).address)
  })
  after(async () => {
    await relay?.stop('SIGKILL')
    await new Promise((resolve) => upstream?.close(resolve))
  })

  it('counts each named request with its upstream status class; readyz while listening', async () => {
    assert.equal((await health(base, '/readyz')).status, 200)
    for (let i = 0; i < 2; i++) assert.equal((await restwire(['relay', 'send', 'ping', '--to', address], {})).code, 0)
    assert.notEqual((await restwire(['relay', 'send', 'missing', '--to', address], {})).code, 0)
    await restwire(['relay', 'send', 'unknown-name', '--to', address], {})
    await eventually(async () => {
      const now = await scrape(base)
      assert.equal(now.value('restwire_requests_total', {protocol: 'relay', route: 'ping', status_class: '2xx', verb: 'ping'}), 2)
      assert.equal(now.value('restwire_requests_total', {route: 'missing', status_class: '4xx'}), 1)
      // A name the config does not have is one bounded label, not the client's string.
      assert.equal(now.value('restwire_requests_total', {route: 'other', status_class: 'none', verb: '-'}), 1)
      assert.ok(now.value('restwire_bytes_sent_total') > 0)
    })
  })
})
