// One hub of the cluster bench in its own process (exits when its stdin ends):
//   cluster-child.ts pipe <pkiDir> <natsUrl> <hubName>     a pipe hub (compiled dist/, like the pipe bench)
//     joins the cluster, serves the hub and its HTTP gateway on free ports; prints {"pid","port","http"}
//   cluster-child.ts tunnel <keysDir> <natsUrl> <hubName>  a tunnel gateway (compiled dist/, like the tunnel bench)
//     joins the cluster, serves nodes and its HTTP API on free ports; prints {"pid","port","http"}
// BENCH_PROF_DIR: run under --cpu-prof (cluster.ts passes the flag).
import {join} from 'node:path'
import {importDist, loadPipe, loadTunnel} from './dist.js'

const [kind, dir, natsUrl, hubName] = process.argv.slice(2)
if ((kind !== 'pipe' && kind !== 'tunnel') || !dir || !natsUrl || !hubName) throw new Error('usage: cluster-child.ts pipe|tunnel DIR NATS_URL HUB_NAME')

async function startPipe(): Promise<() => Promise<void>> {
  const {createPipeHandler, loadPipeIdentity, startPipeGateway, startPipeHub} = await loadPipe()
  const {joinPipeCluster} = await importDist<typeof import('../src/core/cluster/pipe-cluster.js')>('core/cluster/pipe-cluster.js')
  const cluster = await joinPipeCluster({hubName, name: 'bench', servers: [natsUrl!]})
  const hub = await startPipeHub({handler: createPipeHandler({}), identity: await loadPipeIdentity({dir: dir!, name: 'hub'}), port: 0, registry: (local) => cluster.registry(local)})
  const gateway = await startPipeGateway({hub, kind: 'hub'}, {port: 0, timeoutMs: 30_000})
  process.stdout.write(JSON.stringify({http: gateway.address.port, pid: process.pid, port: hub.address.port}) + '\n')
  return async () => {
    await gateway.close()
    await hub.close()
    await cluster.close()
  }
}

async function startTunnel(): Promise<() => Promise<void>> {
  const {loadPrivateKey, startTunnelGateway, startTunnelHttpApi} = await loadTunnel()
  const {joinTunnelCluster} = await importDist<typeof import('../src/core/cluster/tunnel-cluster.js')>('core/cluster/tunnel-cluster.js')
  const cluster = await joinTunnelCluster({hubName, name: 'bench', servers: [natsUrl!]})
  const gateway = await startTunnelGateway({
    identities: [await loadPrivateKey(join(dir!, 'client_key'))],
    knownNodesPath: join(dir!, 'known_hosts'),
    port: 0,
    registry: (local) => cluster.registry(local),
  })
  const api = await startTunnelHttpApi(gateway, {port: 0})
  process.stdout.write(JSON.stringify({http: api.address.port, pid: process.pid, port: gateway.address.port}) + '\n')
  return async () => {
    await api.close()
    await gateway.close()
    await cluster.close()
  }
}

const close = kind === 'pipe' ? await startPipe() : await startTunnel()
process.stdin.resume()
process.stdin.on('end', () => {
  void close().finally(() => process.exit(0))
})
