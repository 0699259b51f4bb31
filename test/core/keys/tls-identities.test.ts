// The identity directory as the pipe uses it: made by makeQuickStart / makeTlsIdentity, read by the pipe's loadPipeIdentity.
import assert from 'node:assert/strict'
import {readdir, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {makeQuickStart, makeTlsIdentity} from '../../../src/core/keys/tls-identities.js'
import {tlsIdentityPaths} from '../../../src/core/keys/tls-identity-files.js'
import {builtinSource, createPipeHandler} from '../../../src/core/pipe/handlers.js'
import {startPipeHub} from '../../../src/core/pipe/hub.js'
import {connectPipeNode} from '../../../src/core/pipe/node.js'
import {type PipeIdentity, loadPipeIdentity} from '../../../src/core/pipe/tls-identity.js'
import {replyJson} from '../../helpers/pipe-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'

describe('TLS identity directory', () => {
  const tempDir = useTempDir('restwire-tls-identities-')

  /** A pipe hub and node on 127.0.0.1 with these identities (the real consumer of the directory): an event each way. */
  async function exchangeEvents(hubIdentity: PipeIdentity, nodeIdentity: PipeIdentity, nodeName: string): Promise<void> {
    const hub = await startPipeHub({handler: createPipeHandler({sources: [builtinSource('hub')]}), identity: hubIdentity, port: 0})
    const node = connectPipeNode({
      handler: createPipeHandler({sources: [builtinSource('node')]}),
      hubName: 'hub',
      identity: nodeIdentity,
      to: {host: '127.0.0.1', port: hub.address.port},
    })
    try {
      await hub.waitForNode(nodeName)
      const toNode = await replyJson(await hub.request(nodeName, {args: ['a', 'b'], noun: 'cat', verb: 'GET'}, {timeoutMs: 10_000}))
      assert.deepEqual(toNode, {result_from_client: 'ab'})
      const toHub = await replyJson(await node.request({args: [], noun: 'time', verb: 'GET'}, {timeoutMs: 10_000}))
      assert.equal(typeof (toHub as {time_from_server: unknown}).time_from_server, 'number')
    } finally {
      await node.close()
      await hub.close()
    }
  }

  it('holds exactly the agreed files, and identities read from it complete a mutual-TLS handshake', async () => {
    const dir = join(tempDir(), 'pki')
    const made = await makeQuickStart({dir, nodes: ['fileserver']})
    assert.deepEqual((await readdir(dir)).sort(), ['ca-key.pem', 'ca.pem', 'fileserver-key.pem', 'fileserver.pem', 'hub-key.pem', 'hub.pem'])
    assert.equal(made.hub.certificatePath, join(dir, 'hub.pem'))
    assert.equal(made.nodes[0]?.privateKeyPath, join(dir, 'fileserver-key.pem'))
    assert.equal((await stat(join(dir, 'hub-key.pem'))).mode & 0o777, 0o600)

    await exchangeEvents(await loadPipeIdentity({dir, name: 'hub'}), await loadPipeIdentity({dir, name: 'fileserver'}), 'fileserver')
  })

  it('makes a directory for another machine: its identity and ca.pem, usable on its own', async () => {
    const caDir = join(tempDir(), 'ca-only')
    const nodeDir = join(tempDir(), 'node-only')
    await makeQuickStart({dir: caDir})
    const made = await makeTlsIdentity({caDir, outDir: nodeDir, name: 'far-node', usages: ['clientAuth']})
    assert.equal(made.caCertificatePath, join(nodeDir, 'ca.pem'))
    assert.deepEqual((await readdir(nodeDir)).sort(), ['ca.pem', 'far-node-key.pem', 'far-node.pem'])

    await exchangeEvents(await loadPipeIdentity({dir: caDir, name: 'hub'}), await loadPipeIdentity({dir: nodeDir, name: 'far-node'}), 'far-node')
  })

  it('names the missing file and the command that makes it', async () => {
    const dir = join(tempDir(), 'pki')
    await assert.rejects(loadPipeIdentity({dir, name: 'nobody'}), (error) => {
      assert.ok(isRestwireError(error, 'RW_ERR_CONFIG'))
      assert.match(error.message, /(certificate|private key) .*nobody(-key)?\.pem: no such file/)
      assert.equal(error.hint, `Make it with: restwire keys cert --ca ${dir} --name nobody`)
      return true
    })
    await assert.rejects(loadPipeIdentity({dir: join(tempDir(), 'empty'), name: 'hub'}), (error) => {
      assert.ok(isRestwireError(error, 'RW_ERR_CONFIG'))
      assert.match(error.message, /\.pem: no such file/)
      return true
    })
    assert.throws(() => tlsIdentityPaths(dir, '../hub'), (error) => isRestwireError(error, 'RW_ERR_USAGE'))
  })
})
