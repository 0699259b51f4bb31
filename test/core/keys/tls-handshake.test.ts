// Certificates from the local CA in real mutual-TLS handshakes: Node's TLS server and client, and openssl s_client.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {createCertificateAuthority, issueCertificate, type TlsCertificateResult} from '../../../src/core/keys/tls-ca.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {startMutualTlsServer, tryTlsClient, type TlsTestServer} from '../../helpers/tls-peers.js'
import {skipWithout, tool} from '../../helpers/tools.js'

const DAY_MS = 86_400_000

describe('mutual TLS with certificates from the local CA', () => {
  const tempDir = useTempDir('restwire-tls-handshake-')
  let ca: TlsCertificateResult
  let hub: TlsCertificateResult
  let node: TlsCertificateResult
  let server: TlsTestServer
  /** Client options presenting `identity`, trusting only our CA. */
  const as = (identity: TlsCertificateResult): {key: string; cert: string; ca: string[]} => ({
    key: identity.privateKey,
    cert: identity.certificate,
    ca: [ca.certificate],
  })

  before(async () => {
    ca = await createCertificateAuthority()
    hub = await issueCertificate({ca, name: 'hub', sans: ['localhost', '127.0.0.1', '::1'], usages: ['serverAuth', 'clientAuth']})
    node = await issueCertificate({ca, name: 'node1', usages: ['clientAuth']})
    server = await startMutualTlsServer(hub, ca.certificate)
  })
  after(() => server.close())

  it('completes a mutual handshake: the client checks the hub by address or DNS name, the hub sees the client name', async () => {
    assert.deepEqual(await tryTlsClient(server.port, as(node)), {greeting: 'hello node1'})
    assert.deepEqual(await tryTlsClient(server.port, {...as(node), servername: 'hub'}), {greeting: 'hello node1'})
    assert.deepEqual(await tryTlsClient(server.port, {...as(node), servername: 'localhost'}), {greeting: 'hello node1'})
    // The hub identity has clientAuth too: it can dial another hub.
    assert.deepEqual(await tryTlsClient(server.port, as(hub)), {greeting: 'hello hub'})
  })

  it('lets the client refuse a hub certificate that does not carry the name it dialled', async () => {
    assert.deepEqual(await tryTlsClient(server.port, {...as(node), servername: 'fileserver'}), {error: 'ERR_TLS_CERT_ALTNAME_INVALID'})
  })

  it('refuses a client with no certificate', async () => {
    const outcome = await tryTlsClient(server.port, {ca: [ca.certificate]})
    assert.equal(outcome.greeting, undefined)
    await server.waitForClientError('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE')
  })

  it('refuses a client certificate from another CA, an expired one and a server-only one, each for its reason', async () => {
    const other = await createCertificateAuthority()
    const cases = [
      {identity: await issueCertificate({ca: other, name: 'node1', usages: ['clientAuth']}), reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'},
      {identity: await issueCertificate({ca, name: 'old', days: 1, now: new Date(Date.now() - 3 * DAY_MS)}), reason: 'CERT_HAS_EXPIRED'},
      {identity: await issueCertificate({ca, name: 'web', usages: ['serverAuth']}), reason: 'INVALID_PURPOSE'},
    ]
    // A server that says why it would refuse, next to the real (rejecting) one.
    const reporting = await startMutualTlsServer(hub, ca.certificate, {rejectUnauthorized: false})
    try {
      for (const {identity, reason} of cases) {
        const outcome = await tryTlsClient(server.port, as(identity))
        assert.equal(outcome.greeting, undefined, `${reason}: ${JSON.stringify(outcome)}`)
        assert.deepEqual(await tryTlsClient(reporting.port, as(identity)), {greeting: `refused ${reason}`})
      }
    } finally {
      await reporting.close()
    }
  })

  it("refuses a server whose certificate is from another CA, or has clientAuth only (Node's client checks the purpose)", async () => {
    const other = await createCertificateAuthority()
    const strangerHub = await startMutualTlsServer(await issueCertificate({ca: other, name: 'hub', sans: ['127.0.0.1']}), ca.certificate)
    const clientOnlyHub = await startMutualTlsServer(
      await issueCertificate({ca, name: 'node2', sans: ['127.0.0.1'], usages: ['clientAuth']}),
      ca.certificate,
    )
    try {
      assert.deepEqual(await tryTlsClient(strangerHub.port, as(node)), {error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'})
      assert.deepEqual(await tryTlsClient(clientOnlyHub.port, as(node)), {error: 'INVALID_PURPOSE'})
    } finally {
      await strangerHub.close()
      await clientOnlyHub.close()
    }
  })

  it('works with RSA identities under an RSA CA', async () => {
    const rsaCa = await createCertificateAuthority({type: 'rsa'})
    const rsaHub = await issueCertificate({ca: rsaCa, name: 'hub', sans: ['127.0.0.1'], type: 'rsa'})
    const rsaNode = await issueCertificate({ca: rsaCa, name: 'node1', usages: ['clientAuth'], type: 'rsa'})
    const rsaServer = await startMutualTlsServer(rsaHub, rsaCa.certificate)
    try {
      const outcome = await tryTlsClient(rsaServer.port, {key: rsaNode.privateKey, cert: rsaNode.certificate, ca: [rsaCa.certificate]})
      assert.deepEqual(outcome, {greeting: 'hello node1'})
    } finally {
      await rsaServer.close()
    }
  })

  it('interoperates with openssl s_client as the client, checking the hub name', {skip: skipWithout('openssl')}, async () => {
    const dir = tempDir()
    await writeFile(join(dir, 'ca.pem'), ca.certificate)
    await writeFile(join(dir, 'node1.pem'), node.certificate)
    await writeFile(join(dir, 'node1-key.pem'), node.privateKey)
    const args = ['s_client', '-connect', `127.0.0.1:${server.port}`, '-CAfile', join(dir, 'ca.pem'), '-verify_return_error', '-verify_hostname', 'hub']
    const accepted = await sClient([...args, '-cert', join(dir, 'node1.pem'), '-key', join(dir, 'node1-key.pem')])
    assert.match(accepted.stdout, /Verify return code: 0 \(ok\)/)
    assert.match(accepted.stdout, /^hello node1$/m)

    const noCertificate = await sClient(args)
    assert.doesNotMatch(noCertificate.stdout, /^hello/m)
    assert.match(noCertificate.stdout + noCertificate.stderr, /certificate required/)
  })
})

/** openssl s_client with stdin held open until the server closes (s_client quits at stdin EOF otherwise). */
function sClient(args: string[]): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn(tool('openssl'), args, {stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const timer = setTimeout(() => child.kill(), 10_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr})
    })
  })
}
