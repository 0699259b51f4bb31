// The metrics port of `korv serve --metrics` against hostile scrapers: a flood of scrapes, scrapers that
// never read their answer, and ones that never finish their request. A healthy korv client beside them
// must see every request answered in time, and the server's own counters must still be right.
import assert from 'node:assert/strict'
import {connect as connectTcp, type Socket} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {KorvClient} from '../../src/core/korv/client.js'
import {localPaths} from '../../src/core/home.js'
import {loadPrivateKey} from '../../src/core/ssh/private-key.js'
import {type ServeProcess, startServe} from '../helpers/cli.js'
import {healthyClient} from '../helpers/hostile.js'
import {eventually, health, scrape} from '../helpers/scrape.js'
import {useTempDir} from '../helpers/ssh-tools.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('korv serve --metrics under a scrape flood', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-metrics-flood-')
  let serve: ServeProcess
  let base: string
  let healthy: KorvClient
  const sockets: Socket[] = []

  before(async () => {
    const home = join(dir(), 'home')
    serve = await startServe(['--demo', '--metrics', '127.0.0.1:0'], {RESTWIRE_HOME: home})
    base = String((await serve.waitForLog(/"event":"metrics listening"/)).metrics).replace(/\/metrics$/, '')
    healthy = await KorvClient.connect({hostKeyPolicy: 'off', identities: [await loadPrivateKey(localPaths(home).clientKey)], port: serve.port, requestTimeoutMs: 10_000})
  })
  after(async () => {
    for (const socket of sockets) socket.destroy()
    await healthy?.close()
    await serve?.stop('SIGKILL')
  })

  it('serves every korv request while hundreds of scrapes, never-reading and never-finishing scrapers hit /metrics', async () => {
    const [host, port] = [new URL(base).hostname, Number(new URL(base).port)]
    const report = healthyClient(async () => {
      const response = await healthy.request('GET', '/hello')
      assert.equal(response.status, 200)
    })
    // Scrapers that ask again and again without reading the answers, and ones stuck in their headers.
    for (let i = 0; i < 40; i++) {
      const socket = connectTcp(port, host)
      socket.on('error', () => {})
      socket.pause()
      socket.on('connect', () => {
        for (let n = 0; n < 50; n++) socket.write(`GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n`)
      })
      sockets.push(socket)
    }

    for (let i = 0; i < 20; i++) {
      const socket = connectTcp(port, host, () => socket.write('GET /metrics HTTP/1.1\r\nhost: x\r\n'))
      socket.on('error', () => {})
      sockets.push(socket)
    }

    // And a flood of well-formed scrapes, 16 at a time for 3 s.
    let scrapes = 0
    const deadline = Date.now() + 3000
    await Promise.all(
      Array.from({length: 16}, async () => {
        while (Date.now() < deadline) {
          // Bounded: a scrape the server never answers is a refused one here, not a hung test.
          const response = await fetch(`${base}/metrics`, {signal: AbortSignal.timeout(5000)}).catch(() => undefined)
          if (response && (await response.arrayBuffer().then(() => true, () => false))) scrapes++
        }
      }),
    )
    await sleep(200)
    const result = await report.stop()
    assert.deepEqual(result.failed, [], 'the healthy client saw no failure')
    assert.equal(result.late, 0, `no healthy call took over 5 s (slowest ${Math.round(result.slowestMs)} ms)`)
    assert.ok(result.answered > 0)
    assert.ok(scrapes > 0, 'scrapes were answered too')

    for (const socket of sockets) socket.destroy()
    // The counters are still exact, and the port still answers once the hostile scrapers are gone.
    await eventually(async () => {
      assert.equal((await health(base, '/healthz')).status, 200)
      const now = await scrape(base)
      assert.equal(now.value('restwire_requests_total', {route: '/hello', status_class: '2xx'}), result.answered)
    })
  })
})
