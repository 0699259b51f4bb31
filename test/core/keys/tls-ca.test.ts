// The local CA and the certificates it issues, read back by the real openssl: chains, names, usages, keys.
import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {
  createCertificateAuthority,
  issueCertificate,
  type TlsCertificateResult,
} from '../../../src/core/keys/tls-ca.js'
import {extensionValue, openssl, opensslText} from '../../helpers/openssl.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

const DAY_MS = 86_400_000

describe('TLS CA and certificates (checked with openssl)', {skip: skipWithout('openssl')}, () => {
  const tempDir = useTempDir('restwire-tls-ca-')
  let counter = 0
  /** Writes a certificate and its key to the temp dir; returns their paths. */
  const save = async (issued: TlsCertificateResult): Promise<{cert: string; key: string}> => {
    const base = join(tempDir(), `c${++counter}`)
    await writeFile(`${base}.pem`, issued.certificate)
    await writeFile(`${base}-key.pem`, issued.privateKey)
    return {cert: `${base}.pem`, key: `${base}-key.pem`}
  }

  it('makes a self-signed ECDSA P-256 CA: CA:TRUE pathlen 0, keyCertSign and cRLSign, a subject key identifier', async () => {
    const now = new Date('2026-01-02T03:04:05.678Z')
    const ca = await createCertificateAuthority({commonName: 'Test CA, Inc.', days: 30, now})
    const {cert, key} = await save(ca)
    const text = await opensslText(cert)
    assert.match(text, /Subject: CN ?= ?"?Test CA, Inc\."?/)
    assert.match(text, /Public Key Algorithm: id-ecPublicKey[\s\S]*NIST CURVE: P-256/)
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/)
    assert.match(text, /X509v3 Basic Constraints: critical/)
    assert.equal(extensionValue(text, 'X509v3 Basic Constraints'), 'CA:TRUE, pathlen:0')
    assert.equal(extensionValue(text, 'X509v3 Key Usage'), 'Certificate Sign, CRL Sign')
    assert.match(extensionValue(text, 'X509v3 Subject Key Identifier') ?? '', /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/)
    // Self-signed: it verifies against itself (at a time within its validity: it was issued "in the past").
    const attime = String(Math.floor(now.getTime() / 1000) + 3600)
    assert.equal((await openssl('verify', '-attime', attime, '-CAfile', cert, cert)).code, 0)

    // notBefore a minute before the issue time (clock skew), notAfter `days` after it, both to the second.
    assert.equal(ca.info.notBefore, '2026-01-02T03:03:05.000Z')
    assert.equal(ca.info.notAfter, new Date(Date.parse('2026-01-02T03:04:05.000Z') + 30 * DAY_MS).toISOString())
    assert.equal(ca.info.isCa, true)
    assert.equal(ca.info.keyType, 'ecdsa-p256')
    // A positive serial number of exactly 16 bytes.
    const serial = /Serial Number:\s*\n\s*([0-9a-f:]+)/.exec(text)?.[1] ?? ''
    assert.equal(serial.split(':').length, 16, text)
    assert.equal(serial.replaceAll(':', '').toUpperCase(), ca.info.serialNumber)
    assert.ok(Number.parseInt(serial.slice(0, 2), 16) < 0x80)

    // The key: unencrypted PKCS#8 that openssl reads, matching the certificate.
    assert.match(ca.privateKey, /^-----BEGIN PRIVATE KEY-----\n/)
    assert.equal((await openssl('pkey', '-in', key, '-noout')).code, 0)
    const fromKey = await openssl('pkey', '-in', key, '-pubout')
    const fromCert = await openssl('x509', '-in', cert, '-noout', '-pubkey')
    assert.equal(fromKey.stdout, fromCert.stdout)
  })

  it('issues a leaf that openssl verifies, with CN, DNS and IP names, both usages, CA:FALSE and the authority key id', async () => {
    const ca = await createCertificateAuthority()
    const leaf = await issueCertificate({ca, name: 'hub', sans: ['localhost', '127.0.0.1', '::1', '[fd00::7]', '*.example.com', 'localhost']})
    const caFiles = await save(ca)
    const files = await save(leaf)
    const verified = await openssl('verify', '-CAfile', caFiles.cert, files.cert)
    assert.equal(verified.code, 0, verified.stderr)
    assert.match(verified.stdout, /: OK$/m)

    const text = await opensslText(files.cert)
    assert.match(text, /Subject: CN ?= ?hub\n/)
    assert.match(text, /Issuer: CN ?= ?restwire local CA\n/)
    assert.equal(extensionValue(text, 'X509v3 Basic Constraints'), 'CA:FALSE')
    assert.equal(extensionValue(text, 'X509v3 Key Usage'), 'Digital Signature')
    assert.equal(extensionValue(text, 'X509v3 Extended Key Usage'), 'TLS Web Server Authentication, TLS Web Client Authentication')
    // The identity name first, repeated names once.
    assert.equal(
      extensionValue(text, 'X509v3 Subject Alternative Name'),
      'DNS:hub, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:0:7, DNS:*.example.com',
    )
    const caText = await opensslText(caFiles.cert)
    const caKeyId = extensionValue(caText, 'X509v3 Subject Key Identifier')
    assert.equal(extensionValue(text, 'X509v3 Authority Key Identifier')?.replace(/^keyid:/, ''), caKeyId)
    assert.deepEqual(leaf.info.sans, ['DNS:hub', 'DNS:localhost', 'IP:127.0.0.1', 'IP:::1', 'IP:fd00::7', 'DNS:*.example.com'])
    assert.deepEqual(leaf.info.usages, ['serverAuth', 'clientAuth'])
    assert.equal((await openssl('pkey', '-in', files.key, '-noout')).code, 0)
  })

  it('gives a client-only certificate clientAuth alone: openssl accepts it for the client purpose and refuses it as a server', async () => {
    const ca = await createCertificateAuthority()
    const caFiles = await save(ca)
    const client = await save(await issueCertificate({ca, name: 'node1', usages: ['clientAuth']}))
    const server = await save(await issueCertificate({ca, name: 'web', usages: ['serverAuth']}))
    assert.equal(extensionValue(await opensslText(client.cert), 'X509v3 Extended Key Usage'), 'TLS Web Client Authentication')
    assert.equal(extensionValue(await opensslText(server.cert), 'X509v3 Extended Key Usage'), 'TLS Web Server Authentication')

    assert.equal((await openssl('verify', '-CAfile', caFiles.cert, '-purpose', 'sslclient', client.cert)).code, 0)
    const asServer = await openssl('verify', '-CAfile', caFiles.cert, '-purpose', 'sslserver', client.cert)
    assert.notEqual(asServer.code, 0)
    assert.match(asServer.stdout + asServer.stderr, /unsuitable certificate purpose/)
    assert.equal((await openssl('verify', '-CAfile', caFiles.cert, '-purpose', 'sslserver', server.cert)).code, 0)
    assert.notEqual((await openssl('verify', '-CAfile', caFiles.cert, '-purpose', 'sslclient', server.cert)).code, 0)
  })

  it('makes RSA keys on request (keyEncipherment on RSA leaves), under an RSA or an ECDSA CA', async () => {
    const rsaCa = await createCertificateAuthority({type: 'rsa'})
    const rsaCaFiles = await save(rsaCa)
    assert.match(await opensslText(rsaCaFiles.cert), /Public-Key: \(2048 bit\)[\s\S]*Signature Algorithm: sha256WithRSAEncryption/)

    const ecdsaLeaf = await save(await issueCertificate({ca: rsaCa, name: 'ec-under-rsa'}))
    assert.equal((await openssl('verify', '-CAfile', rsaCaFiles.cert, ecdsaLeaf.cert)).code, 0)
    assert.equal(extensionValue(await opensslText(ecdsaLeaf.cert), 'X509v3 Key Usage'), 'Digital Signature')

    const ecdsaCa = await createCertificateAuthority({bits: 384})
    const ecdsaCaFiles = await save(ecdsaCa)
    assert.match(await opensslText(ecdsaCaFiles.cert), /NIST CURVE: P-384[\s\S]*ecdsa-with-SHA384/)
    const rsaLeaf = await issueCertificate({ca: ecdsaCa, name: 'rsa-leaf', type: 'rsa', bits: 3072})
    const rsaLeafFiles = await save(rsaLeaf)
    assert.equal((await openssl('verify', '-CAfile', ecdsaCaFiles.cert, rsaLeafFiles.cert)).code, 0)
    const text = await opensslText(rsaLeafFiles.cert)
    assert.match(text, /Public-Key: \(3072 bit\)/)
    assert.equal(extensionValue(text, 'X509v3 Key Usage'), 'Digital Signature, Key Encipherment')
    assert.equal(rsaLeaf.info.keyType, 'rsa-3072')
    assert.equal((await openssl('pkey', '-in', rsaLeafFiles.key, '-noout')).code, 0)
  })

  it('refuses a certificate from another CA, and an expired one', async () => {
    const ca = await createCertificateAuthority()
    const other = await createCertificateAuthority({commonName: 'restwire local CA'})
    const caFiles = await save(ca)
    const stranger = await save(await issueCertificate({ca: other, name: 'hub'}))
    const refused = await openssl('verify', '-CAfile', caFiles.cert, stranger.cert)
    assert.notEqual(refused.code, 0)
    assert.match(refused.stdout + refused.stderr, /unable to get local issuer certificate|certificate signature failure/)

    // Issued "three days ago" for one day: expired now, though its CA is valid.
    const expired = await save(await issueCertificate({ca, name: 'old', days: 1, now: new Date(Date.now() - 3 * DAY_MS)}))
    const late = await openssl('verify', '-CAfile', caFiles.cert, expired.cert)
    assert.notEqual(late.code, 0)
    assert.match(late.stdout + late.stderr, /certificate has expired/)
  })

  it('never lets a leaf outlive its CA', async () => {
    const ca = await createCertificateAuthority({days: 10})
    const leaf = await issueCertificate({ca, name: 'hub', days: 825})
    assert.equal(leaf.info.notAfter, ca.info.notAfter)
  })

  it('refuses to sign with something that is not a usable CA', async () => {
    const ca = await createCertificateAuthority()
    const otherCa = await createCertificateAuthority()
    const leaf = await issueCertificate({ca, name: 'hub'})
    const expiredCa = await createCertificateAuthority({days: 1, now: new Date(Date.now() - 3 * DAY_MS)})
    const cases = [
      {ca: leaf, reason: /not a CA certificate/},
      {ca: {certificate: ca.certificate, privateKey: otherCa.privateKey}, reason: /does not belong to the CA certificate/},
      {ca: {certificate: 'not a certificate', privateKey: ca.privateKey}, reason: /not a PEM certificate/},
      {ca: {certificate: ca.certificate, privateKey: 'garbage'}, reason: /not an unencrypted PEM private key/},
      {ca: expiredCa, reason: /expired/},
    ]
    for (const {ca: badCa, reason} of cases) {
      await assert.rejects(issueCertificate({ca: badCa, name: 'x', caSource: '/pki/ca.pem'}), (error) => {
        assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'), String(error))
        assert.match(error.message, /^\/pki\/ca\.pem: /)
        assert.match(error.message, reason)
        return true
      })
    }
  })

  it('rejects bad names, SANs, sizes and validity periods as usage errors', async () => {
    const ca = await createCertificateAuthority()
    const usage = async (promise: Promise<unknown>, pattern: RegExp): Promise<void> => {
      await assert.rejects(promise, (error) => {
        assert.ok(isRestwireError(error, 'RW_ERR_USAGE'), String(error))
        assert.match(error.message, pattern)
        return true
      })
    }
    for (const name of ['../x', '.hidden', 'a/b', '', 'ca', 'hub-key', 'a b', 'a..b', '-x', 'x'.repeat(65), 'node:1']) {
      await usage(issueCertificate({ca, name}), /--name/)
    }

    await usage(issueCertificate({ca, name: 'ok', sans: ['bad name']}), /--san "bad name"/)
    await usage(issueCertificate({ca, name: 'ok', sans: ['fe80::1%eth0']}), /zone/)
    await usage(issueCertificate({ca, name: 'ok', sans: ['a.-b.com']}), /--san/)
    await usage(issueCertificate({ca, name: 'ok', type: 'rsa', bits: 1024}), /RSA keys must be 2048, 3072, 4096 bits/)
    await usage(issueCertificate({ca, name: 'ok', bits: 521}), /ECDSA keys must be 256 or 384 bits/)
    await usage(issueCertificate({ca, name: 'ok', days: 0}), /--days/)
    await usage(createCertificateAuthority({commonName: ''}), /CA name/)

    // An IPv4 address is a valid identity name; it becomes an IP SAN.
    const byAddress = await issueCertificate({ca, name: '10.0.0.5'})
    assert.deepEqual(byAddress.info.sans, ['IP:10.0.0.5'])
  })
})
