// Every handle the library returns closes with `await using` (Symbol.asyncDispose calls close()):
// korv's server, service and client, the tunnel's gateway, HTTP API, node and expose service, the
// pipe's hub, node and gateway, and the relay. Checked from outside: the port refuses, the peer sees
// the connection go, the client refuses new requests.
import assert from 'node:assert/strict'
import {connect} from 'node:net'
import {describe, it} from 'node:test'
import {PeerGoneError} from '../../src/core/errors.js'
import {KorvClient} from '../../src/core/korv/client.js'
import {createKorvServer} from '../../src/core/korv/server.js'
import {startKorvService} from '../../src/core/korv/service.js'
import {startPipeGateway} from '../../src/core/pipe/gateway.js'
import {parseRelayAddress} from '../../src/core/relay/address.js'
import {startRelayServer} from '../../src/core/relay/server.js'
import {AuthorizedKeysFile} from '../../src/core/ssh/authorized-keys.js'
import {loadPrivateKey} from '../../src/core/ssh/private-key.js'
import {startExposeService} from '../../src/core/tunnel/expose-service.js'
import {startTunnelHttpApi} from '../../src/core/tunnel/http-api.js'
import {Router, exposeNode, startTunnelGateway} from '../../src/core/tunnel/index.js'
import {makeKorvKeys} from '../helpers/korv-fixture.js'
import {startTestHub, startTestNode} from '../helpers/pipe-fixture.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {relayConfig} from '../helpers/relay-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {makeTunnelKeys, trustNode} from '../helpers/tunnel-fixture.js'
import {skipWithout} from '../helpers/tools.js'

/** Resolves with the error code of a TCP connect to 127.0.0.1:port (ECONNREFUSED once nothing listens). */
function connectCode(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
  })
}

describe('handles close with await using', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-dispose-')

  it('korv: the server handle, the client and the service', async () => {
    const keys = await makeKorvKeys(dir())
    let port = 0
    let kept: KorvClient | undefined
    {
      await using server = await createKorvServer({authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath), hostKeys: [await loadPrivateKey(keys.hostKeyPath)], port: 0}).start()
      port = server.address.port
      {
        await using client = await KorvClient.connect({hostKeyPolicy: 'accept-new', identities: [keys.clientKey], knownHostsPath: keys.knownHostsPath, port})
        kept = client
        assert.equal((await client.request('GET', '/nothing-here')).status, 404)
      }
      await assert.rejects(kept.request('GET', '/'), (error) => error instanceof PeerGoneError && error.message === 'the client was closed')
    }
    assert.equal(await connectCode(port), 'ECONNREFUSED')

    {
      await using service = await startKorvService({demo: true, home: `${dir()}/korv-home`, port: 0})
      port = service.address.port
      assert.equal(await connectCode(port), 'connected')
    }
    assert.equal(await connectCode(port), 'ECONNREFUSED')
  })

  it('tunnel: the gateway, its HTTP API, a node and the expose service', async () => {
    const keys = await makeTunnelKeys(dir())
    await trustNode(keys.knownNodesPath, 'dispose-node', keys.nodeHostPublicKey)
    let gatewayPort = 0
    {
      await using gateway = await startTunnelGateway({acceptNew: true, identities: [keys.gatewayKey], knownNodesPath: keys.knownNodesPath, port: 0})
      gatewayPort = gateway.address.port
      let done: Promise<void> | undefined
      {
        await using node = exposeNode({
          authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
          hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
          nodeId: 'dispose-node',
          router: new Router().route('GET', '/', () => ({ok: true})),
          to: {host: '127.0.0.1', port: gatewayPort},
        })
        done = node.done
        await gateway.waitForNode('dispose-node', 20_000)
      }
      await done

      let apiPort = 0
      {
        await using api = await startTunnelHttpApi(gateway, {port: 0})
        apiPort = api.address.port
        assert.equal(await connectCode(apiPort), 'connected')
      }
      assert.equal(await connectCode(apiPort), 'ECONNREFUSED')

      {
        await using service = await startExposeService({demo: true, home: `${dir()}/tunnel-home`, to: {host: '127.0.0.1', port: gatewayPort}})
        done = service.node.done
      }
      await done
    }
    assert.equal(await connectCode(gatewayPort), 'ECONNREFUSED')
  })

  it('relay: the server', async () => {
    let port = 0
    {
      await using relay = await startRelayServer({config: relayConfig({requests: {ping: {method: 'GET', url: 'http://127.0.0.1:9/ping'}}}), listen: parseRelayAddress('tcp://127.0.0.1:0', 'listen')})
      port = relay.port!
      assert.equal(await connectCode(port), 'connected')
    }
    assert.equal(await connectCode(port), 'ECONNREFUSED')
  })

  it('pipe: the hub, a node and a gateway', {skip: skipWithout('openssl')}, async () => {
    const pki = await makePipePki(dir())
    let hubPort = 0
    {
      const {hub, log} = await startTestHub(pki)
      await using disposableHub = hub
      hubPort = hub.address.port
      {
        const started = await startTestNode(pki, hubPort)
        await using node = started.node
        await hub.waitForNode('node-a')
        assert.equal(node.isConnected(), true)
      }
      await log.next((event) => event.type === 'node-disconnected' && event.node === 'node-a')

      let gatewayPort = 0
      {
        await using gateway = await startPipeGateway({hub: disposableHub, kind: 'hub'}, {port: 0})
        gatewayPort = gateway.address.port
        assert.equal(await connectCode(gatewayPort), 'connected')
      }
      assert.equal(await connectCode(gatewayPort), 'ECONNREFUSED')
    }
    assert.equal(await connectCode(hubPort), 'ECONNREFUSED')
  })
})
