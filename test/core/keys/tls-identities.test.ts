// The identity directory as the pipe uses it: made by makeQuickStart / makeTlsIdentity, read by readTlsIdentity.
import assert from 'node:assert/strict'
import {readdir, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {makeQuickStart, makeTlsIdentity} from '../../../src/core/keys/tls-identities.js'
import {readTlsIdentity, tlsIdentityPaths} from '../../../src/core/keys/tls-identity-files.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {startMutualTlsServer, tryTlsClient} from '../../helpers/tls-peers.js'

describe('TLS identity directory', () => {
  const tempDir = useTempDir('restwire-tls-identities-')

  it('holds exactly the agreed files, and identities read from it complete a mutual-TLS handshake', async () => {
    const dir = join(tempDir(), 'pki')
    const made = await makeQuickStart({dir, nodes: ['fileserver']})
    assert.deepEqual((await readdir(dir)).sort(), ['ca-key.pem', 'ca.pem', 'fileserver-key.pem', 'fileserver.pem', 'hub-key.pem', 'hub.pem'])
    assert.equal(made.hub.certificatePath, join(dir, 'hub.pem'))
    assert.equal(made.nodes[0]?.privateKeyPath, join(dir, 'fileserver-key.pem'))
    assert.equal((await stat(join(dir, 'hub-key.pem'))).mode & 0o777, 0o600)

    const hub = await readTlsIdentity(dir, 'hub')
    const node = await readTlsIdentity(dir, 'fileserver')
    assert.deepEqual(node.paths, {ca: join(dir, 'ca.pem'), certificate: join(dir, 'fileserver.pem'), privateKey: join(dir, 'fileserver-key.pem')})
    const server = await startMutualTlsServer(hub, hub.ca)
    try {
      const outcome = await tryTlsClient(server.port, {key: node.privateKey, cert: node.certificate, ca: [node.ca], servername: 'hub'})
      assert.deepEqual(outcome, {greeting: 'hello fileserver'})
    } finally {
      await server.close()
    }
  })

  it('makes a directory for another machine: its identity and ca.pem, usable on its own', async () => {
    const caDir = join(tempDir(), 'ca-only')
    const nodeDir = join(tempDir(), 'node-only')
    await makeQuickStart({dir: caDir})
    const made = await makeTlsIdentity({caDir, outDir: nodeDir, name: 'far-node', usages: ['clientAuth']})
    assert.equal(made.caCertificatePath, join(nodeDir, 'ca.pem'))
    assert.deepEqual((await readdir(nodeDir)).sort(), ['ca.pem', 'far-node-key.pem', 'far-node.pem'])

    const node = await readTlsIdentity(nodeDir, 'far-node')
    const server = await startMutualTlsServer(await readTlsIdentity(caDir, 'hub'), node.ca)
    try {
      assert.deepEqual(await tryTlsClient(server.port, {key: node.privateKey, cert: node.certificate, ca: [node.ca]}), {greeting: 'hello far-node'})
    } finally {
      await server.close()
    }
  })

  it('names the missing file and the command that makes it', async () => {
    const dir = join(tempDir(), 'pki')
    await assert.rejects(readTlsIdentity(dir, 'nobody'), (error) => {
      assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'))
      assert.match(error.message, /the certificate of nobody, .*nobody\.pem: no such file or directory/)
      assert.equal(error.hint, `Make it with: restwire keys cert --ca ${dir} --name nobody`)
      return true
    })
    await assert.rejects(readTlsIdentity(join(tempDir(), 'empty'), 'hub'), (error) => {
      assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'))
      assert.match(error.message, /the CA certificate, .*ca\.pem/)
      return true
    })
    assert.throws(() => tlsIdentityPaths(dir, '../hub'), (error) => isRestwireError(error, 'RW_ERR_USAGE'))
  })
})
