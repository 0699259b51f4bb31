// One side of the tunnel bench in its own process:
//   `node --import tsx bench/tunnel-child.ts node <keysDir> <nodeId> <gatewayPort>`: exposeNode with
//     POST /echo (answers the body) and STREAM /items (yields {"i": n} for n < query.n, as fast as it can);
//     prints {"pid"} once connected.
//   `node --import tsx bench/tunnel-child.ts gateway <keysDir>`: startTunnelGateway + startTunnelHttpApi on
//     free ports; prints {"pid", "gatewayPort", "httpPort"} once listening.
// Exits when its stdin ends (so it dies with the bench). Keys are the files makeTunnelKeys writes.
// The library comes from dist/ (dist.ts): run `npm run build` first.
import {join} from 'node:path'
import {loadTunnel} from './dist.js'

const {AuthorizedKeysFile, Router, exposeNode, loadPrivateKey, startTunnelGateway, startTunnelHttpApi} = await loadTunnel()

async function startNode(keysDir: string, nodeId: string, gatewayPort: number): Promise<() => Promise<void>> {
  const router = new Router()
    .route('POST', '/echo', (req) => req.body)
    .route('STREAM', '/items', function* (req) {
      const n = Number(req.query.n ?? 0)
      for (let i = 0; i < n; i++) yield {i}
    })
  const hostKey = await loadPrivateKey(join(keysDir, 'host_key'))
  const node = exposeNode({
    authorizedKeys: await AuthorizedKeysFile.open(join(keysDir, 'authorized_keys')),
    hostKeys: [{privateKey: hostKey.privateKey}],
    nodeId,
    once: true,
    router,
    to: {host: '127.0.0.1', port: gatewayPort},
  })
  await node.connected()
  process.stdout.write(JSON.stringify({pid: process.pid}) + '\n')
  return () => node.close()
}

async function startGateway(keysDir: string): Promise<() => Promise<void>> {
  const gateway = await startTunnelGateway({identities: [await loadPrivateKey(join(keysDir, 'client_key'))], knownNodesPath: join(keysDir, 'known_hosts'), port: 0})
  const api = await startTunnelHttpApi(gateway, {port: 0})
  process.stdout.write(JSON.stringify({gatewayPort: gateway.address.port, httpPort: api.address.port, pid: process.pid}) + '\n')
  return async () => {
    await api.close()
    await gateway.close()
  }
}

const [kind, keysDir, nodeId, gatewayPort] = process.argv.slice(2)
const close = kind === 'node' ? await startNode(keysDir!, nodeId!, Number(gatewayPort)) : await startGateway(keysDir!)
process.stdin.resume()
process.stdin.on('end', () => {
  void close().finally(() => process.exit(0))
})
