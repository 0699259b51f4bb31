// /readyz and the cluster gauges of cluster members: two `tunnel gateway --cluster` and a `pipe serve
// --cluster` on a private nats-server; with NATS stopped they stay alive (/healthz) but are not ready.
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {ensureServerIdentity, localPaths} from '../../src/core/home.js'
import {type CliProcess, spawnCli} from '../helpers/cli.js'
import {type NatsServer, startNatsServer} from '../helpers/nats-server.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {eventually, health, scrape} from '../helpers/scrape.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout} from '../helpers/tools.js'

describe('metrics of cluster members', {skip: skipWithout('nats-server', 'openssl'), timeout: 180_000}, () => {
  const dir = useTempDir('restwire-metrics-cluster-')
  const children: CliProcess[] = []
  let nats: NatsServer
  before(async () => {
    nats = await startNatsServer()
  })
  after(async () => {
    for (const child of children) await child.stop('SIGKILL')
    await nats?.stop()
  })
  const member = async (args: string[], env: Record<string, string> = {}): Promise<string> => {
    const child = spawnCli([...args, '--log-format', 'json', '--cluster', nats.url, '--cluster-name', 'm'], env)
    children.push(child)
    return String((await child.waitForLog(/"event":"listening"/)).http)
  }

  it('reports the cluster view as gauges, and /readyz 503 while NATS is unreachable', async () => {
    const home = join(dir(), 'home')
    await ensureServerIdentity(localPaths(home))
    const gatewayArgs = (name: string): string[] => ['tunnel', 'gateway', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cluster-hub', name]
    const a = await member(gatewayArgs('gw-a'), {RESTWIRE_HOME: home})
    await member(gatewayArgs('gw-b'), {RESTWIRE_HOME: home})
    const pki = await makePipePki(join(dir(), 'pki'))
    const hub = await member(['pipe', 'serve', '--ca', pki.dir, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cluster-hub', 'hub-1'])

    await eventually(async () => {
      const view = await scrape(a)
      assert.equal(view.value('restwire_cluster_connected', {protocol: 'tunnel'}), 1)
      assert.equal(view.value('restwire_cluster_hubs'), 2, 'gw-a sees itself and gw-b')
      assert.equal(view.value('restwire_cluster_remote_nodes'), 0)
      assert.equal((await scrape(hub)).value('restwire_cluster_connected', {protocol: 'pipe'}), 1)
    })
    assert.equal((await health(a, '/readyz')).status, 200)
    assert.equal((await health(hub, '/readyz')).status, 200)

    await nats.stop()
    await eventually(async () => {
      const ready = await health(a, '/readyz')
      assert.equal(ready.status, 503)
      assert.match(ready.text, /NATS unreachable/)
      assert.equal((await health(hub, '/readyz')).status, 503)
      assert.equal((await scrape(a)).value('restwire_cluster_connected'), 0)
    })
    assert.equal((await health(a, '/healthz')).status, 200, 'alive while degraded')

    await nats.start()
    await eventually(async () => {
      assert.equal((await health(a, '/readyz')).status, 200)
      assert.equal((await health(hub, '/readyz')).status, 200)
    }, 60_000)
  })
})
