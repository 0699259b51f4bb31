// The link layer under the real protocols: what moving the tunnel and the pipe onto it added.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {Router} from '../../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../../src/core/ssh/authorized-keys.js'
import {type TunnelNodeEvent, exposeNode, startTunnelGateway} from '../../../src/core/tunnel/index.js'
import {startTestHub} from '../../helpers/pipe-fixture.js'
import {makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {makeTunnelKeys} from '../../helpers/tunnel-fixture.js'

describe('link layer under the tunnel and the pipe', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-link-')

  it('a tunnel gateway that closes ends a pending waitForNode with RW_ERR_CLOSED, not a timeout', async () => {
    const keys = await makeTunnelKeys(dir())
    const gateway = await startTunnelGateway({identities: [keys.gatewayKey], knownNodesPath: keys.knownNodesPath, port: 0})
    const waiting = gateway.waitForNode('away', 60_000)
    await gateway.close()
    await assert.rejects(waiting, (error) => isRestwireError(error, 'RW_ERR_CLOSED'))
  })

  it('a tunnel node closed during its dial aborts the dial through the signal', async () => {
    const keys = await makeTunnelKeys(dir())
    const authorizedKeys = await AuthorizedKeysFile.open(keys.authorizedKeysPath)
    const events: TunnelNodeEvent[] = []
    let dialled!: (signal: AbortSignal) => void
    const dialling = new Promise<AbortSignal>((resolve) => (dialled = resolve))
    const node = exposeNode({
      authorizedKeys,
      // A transport that never connects until it is aborted (a black hole).
      connect: (_to, signal) =>
        new Promise((_resolve, reject) => {
          dialled(signal)
          signal.addEventListener('abort', () => reject(new Error('aborted')))
        }),
      hostKeys: [{privateKey: keys.nodeHostKey.privateKey}],
      onEvent: (event) => events.push(event),
      router: new Router(),
      to: {host: '127.0.0.1', port: 9},
    })
    const signal = await dialling
    await node.close()
    await node.done
    authorizedKeys.close()
    assert.equal(signal.aborted, true)
    assert.deepEqual(
      events.map((event) => event.type),
      ['connecting', 'disconnected'],
    )
    assert.deepEqual(events[1], {reason: 'node closed', type: 'disconnected'})
  })

  it('a pipe hub that closes releases waitForNode', async () => {
    const pki = await makePipePki(dir())
    const {hub} = await startTestHub(pki)
    const waiting = hub.waitForNode('away')
    await hub.close()
    await waiting
  })
})
