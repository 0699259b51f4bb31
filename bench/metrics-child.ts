// The korv echo server for the metrics bench, in its own process: `node --import tsx bench/metrics-child.ts
// plain|metrics keysDir`. With `metrics`, every request is reported to a TrafficLog counted by
// ServerMetrics, and the process scrapes its own /metrics once a second (Prometheus would every 15 s or
// so: this charges the render to the server too, generously). Prints {"pid", "port"} once listening;
// exits when its stdin ends.
import {request} from 'node:http'
import {join} from 'node:path'
import {startObserveServer} from '../src/core/observe/http.js'
import {ServerMetrics} from '../src/core/observe/metrics.js'
import {TrafficLog} from '../src/core/observe/traffic.js'
import {loadPrivateKey} from '../src/core/ssh/private-key.js'
import {startKorv} from '../test/helpers/korv-fixture.js'

const SCRAPE_EVERY_MS = 1000

const withMetrics = process.argv[2] === 'metrics'
const keysDir = process.argv[3]!
const clientKeyPath = join(keysDir, 'client_key')
const keys = {
  authorizedKeysPath: join(keysDir, 'authorized_keys'),
  clientKey: await loadPrivateKey(clientKeyPath),
  clientKeyPath,
  dir: keysDir,
  hostKeyPath: join(keysDir, 'host_key'),
  knownHostsPath: join(keysDir, 'known_hosts'),
}
const traffic = withMetrics ? new TrafficLog({keep: 1}) : undefined
const korv = await startKorv(keys, {traffic}, (server) => server.route('STORE', '/echo', ({body}) => body))
let stopScraping = (): Promise<void> => Promise.resolve()
if (traffic) {
  const metrics = new ServerMetrics({connections: () => korv.handle.connectionStats(), protocol: 'korv'})
  metrics.attach(traffic)
  const observe = await startObserveServer({metrics, ready: () => ({ready: true, reason: 'listening'})}, '127.0.0.1', 0)
  const timer = setInterval(() => {
    request({host: '127.0.0.1', path: '/metrics', port: observe.address.port}, (response) => response.resume()).end()
  }, SCRAPE_EVERY_MS)
  stopScraping = async () => {
    clearInterval(timer)
    await observe.close()
  }
}

process.stdout.write(JSON.stringify({pid: process.pid, port: korv.port}) + '\n')
process.stdin.resume()
process.stdin.on('end', () => {
  void Promise.all([stopScraping(), korv.handle.close({drainMs: 0})]).finally(() => process.exit(0))
})
