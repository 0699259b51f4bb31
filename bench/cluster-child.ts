// One pipe hub of the cluster bench in its own process (exits when its stdin ends):
//   cluster-child.ts <pkiDir> <natsUrl> <hubName>
// joins the cluster (compiled dist/, like the pipe bench), serves the hub on a free port and its HTTP
// gateway on another, then prints {"pid","port","http"}. Its handler answers nothing (nodes do).
// BENCH_PROF_DIR: run under --cpu-prof (cluster.ts passes the flag).
import {loadPipe} from './pipe-dist.js'

const [pkiDir, natsUrl, hubName] = process.argv.slice(2)
if (!pkiDir || !natsUrl || !hubName) throw new Error('usage: cluster-child.ts PKI_DIR NATS_URL HUB_NAME')
const {createPipeHandler, loadPipeIdentity, startPipeGateway, startPipeHub} = await loadPipe()
const {joinPipeCluster} = (await import(new URL('../dist/core/cluster/pipe-cluster.js', import.meta.url).href)) as typeof import('../src/core/cluster/pipe-cluster.js')

const cluster = await joinPipeCluster({hubName, name: 'bench', servers: [natsUrl]})
const hub = await startPipeHub({handler: createPipeHandler({}), identity: await loadPipeIdentity({dir: pkiDir, name: 'hub'}), port: 0, registry: (local) => cluster.registry(local)})
const gateway = await startPipeGateway({hub, kind: 'hub'}, {port: 0, timeoutMs: 30_000})
process.stdout.write(JSON.stringify({http: gateway.address.port, pid: process.pid, port: hub.address.port}) + '\n')
process.stdin.resume()
process.stdin.on('end', () => {
  void (async () => {
    await gateway.close()
    await hub.close()
    await cluster.close()
  })().finally(() => process.exit(0))
})
