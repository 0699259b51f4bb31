// /metrics, /healthz and /readyz of the linked servers: `tunnel gateway` (on its HTTP API) with `tunnel
// expose --metrics`, and `pipe serve` with `pipe connect` (on their gateways). The node is started before
// its gateway or hub, so /readyz is seen going from 503 (redialling) to 200 (connected).
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {ensureServerIdentity, localPaths} from '../../src/core/home.js'
import {type CliProcess, spawnCli} from '../helpers/cli.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {eventually, health, scrape} from '../helpers/scrape.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout} from '../helpers/tools.js'
import {freePort} from '../helpers/nats-server.js'


describe('metrics of the tunnel and the pipe', {timeout: 180_000}, () => {
  const dir = useTempDir('restwire-metrics-links-')
  const children: CliProcess[] = []
  after(async () => {
    for (const child of children) await child.stop('SIGKILL')
  })
  const spawn = (args: string[], env: Record<string, string> = {}): CliProcess => {
    const child = spawnCli(args, env)
    children.push(child)
    return child
  }

  it('tunnel: the node is not ready until it connects; both sides count the calls and the STREAM', async () => {
    const home = join(dir(), 'home')
    await ensureServerIdentity(localPaths(home))
    const env = {RESTWIRE_HOME: home}
    const port = await freePort()
    const node = spawn(['tunnel', 'expose', '--to', `127.0.0.1:${port}`, '--demo', '--metrics', '127.0.0.1:0', '--max-backoff', '300ms', '--log-format', 'json'], env)
    const nodeBase = String((await node.waitForLog(/"event":"metrics listening"/)).metrics).replace(/\/metrics$/, '')
    await node.waitForLog(/"event":"retrying"/)
    const before = await health(nodeBase, '/readyz')
    assert.equal(before.status, 503)
    assert.match(before.text, /no gateway connected/)
    assert.equal((await health(nodeBase, '/healthz')).status, 200, 'alive while not ready')
    await eventually(async () => assert.ok((await scrape(nodeBase)).value('restwire_redials_total') >= 1))
    assert.equal((await scrape(nodeBase)).value('restwire_peers_connected'), 0)

    const gateway = spawn(['tunnel', 'gateway', '--listen', String(port), '--http', '127.0.0.1:0', '--accept-new', '--log-format', 'json'], env)
    const http = String((await gateway.waitForLog(/"event":"listening"/)).http)
    await gateway.waitForLog(/"event":"node connected"/)
    await eventually(async () => assert.equal((await health(nodeBase, '/readyz')).status, 200))
    assert.equal((await health(http, '/readyz')).status, 200)
    assert.equal((await health(http, '/healthz')).status, 200)

    for (let i = 0; i < 2; i++) assert.equal((await fetch(`${http}/nodes/demo/home`)).status, 200)
    const created = await fetch(`${http}/nodes/demo/create`, {body: JSON.stringify({name: 'ada'}), headers: {'content-type': 'application/json'}, method: 'POST'})
    assert.equal(created.status, 201)
    assert.equal((await fetch(`${http}/nodes/nobody/home`)).status, 404)
    const stream = await fetch(`${http}/nodes/demo/stream?interval_ms=1&n=4`, {headers: {accept: 'application/x-ndjson'}})
    assert.equal((await stream.text()).trim().split('\n').length, 4)

    await eventually(async () => {
      const gw = await scrape(http)
      assert.equal(gw.value('restwire_requests_total', {direction: 'out', protocol: 'tunnel', status_class: '2xx', verb: 'GET'}), 2)
      assert.equal(gw.value('restwire_requests_total', {direction: 'out', status_class: '2xx', verb: 'POST'}), 1)
      assert.equal(gw.value('restwire_requests_total', {status_class: 'none', verb: 'GET'}), 1, 'the unknown node: no answer')
      assert.equal(gw.value('restwire_requests_total', {status_class: '2xx', verb: 'STREAM'}), 1, 'a STREAM is one record when it ends')
      assert.equal(gw.value('restwire_peers_connected'), 1)
      assert.ok(gw.value('restwire_bytes_received_total') > 0)
      const nd = await scrape(nodeBase)
      assert.equal(nd.value('restwire_requests_total', {direction: 'in', route: '/home', status_class: '2xx', verb: 'GET'}), 2)
      assert.equal(nd.value('restwire_requests_total', {route: '/create', verb: 'POST'}), 1)
      assert.equal(nd.value('restwire_requests_total', {route: '/stream', verb: 'STREAM'}), 1)
      assert.equal(nd.value('restwire_peers_connected'), 1)
    })
    // The gateway's own routes are untouched by the metrics endpoints.
    assert.deepEqual(((await (await fetch(`${http}/nodes`)).json()) as Array<{id: string}>).map((entry) => entry.id), ['demo'])

    assert.equal(await gateway.stop('SIGTERM'), 0)
    await eventually(async () => assert.equal((await health(nodeBase, '/readyz')).status, 503))
  })

  it('pipe: node and hub gateways answer /metrics and health; events counted both ways', {skip: skipWithout('openssl')}, async () => {
    const pki = await makePipePki(join(dir(), 'pki'))
    const port = await freePort()
    const node = spawn(['pipe', 'connect', '--to', `127.0.0.1:${port}`, '--hub-name', 'hub', '--ca', pki.dir, '--name', 'node-a', '--http', '127.0.0.1:0', '--max-backoff', '300ms', '--log-format', 'json'])
    const nodeHttp = String((await node.waitForLog(/"event":"started"/)).http)
    assert.equal((await health(nodeHttp, '/readyz')).status, 503)
    assert.equal((await health(nodeHttp, '/healthz')).status, 200)

    const hub = spawn(['pipe', 'serve', '--ca', pki.dir, '--listen', String(port), '--http', '127.0.0.1:0', '--log-format', 'json'])
    const hubHttp = String((await hub.waitForLog(/"event":"listening"/)).http)
    await eventually(async () => assert.equal((await health(nodeHttp, '/readyz')).status, 200))
    assert.equal((await health(hubHttp, '/readyz')).status, 200)

    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${hubHttp}/client/node-a/time`)).status, 200)
    const sent = await fetch(`${nodeHttp}/server/cat//a/b`, {body: 'x'.repeat(1000), method: 'POST'})
    await sent.arrayBuffer()
    assert.equal((await fetch(`${nodeHttp}/server/time`)).status, 200)

    await eventually(async () => {
      const h = await scrape(hubHttp)
      assert.equal(h.value('restwire_requests_total', {direction: 'out', protocol: 'pipe', route: 'time', status_class: 'ok', verb: 'GET'}), 3)
      assert.equal(h.value('restwire_requests_total', {direction: 'in', verb: 'GET'}), 1)
      assert.equal(h.value('restwire_requests_total', {direction: 'in', verb: 'POST'}), 1)
      assert.equal(h.value('restwire_peers_connected'), 1)
      const n = await scrape(nodeHttp)
      assert.equal(n.value('restwire_requests_total', {direction: 'in', route: 'time', status_class: 'ok', verb: 'GET'}), 3)
      assert.equal(n.value('restwire_requests_total', {direction: 'out', verb: 'POST'}), 1)
      assert.ok(n.value('restwire_bytes_sent_total') >= 1000, 'the POST body was counted as it was sent')
      assert.equal(n.value('restwire_peers_connected'), 1)
    })
    // The gateways' own routes still work, and unknown paths still get their usage 404.
    assert.equal((await fetch(`${hubHttp}/nodes`)).status, 200)
    assert.equal((await fetch(`${hubHttp}/nope`)).status, 404)
  })
})
