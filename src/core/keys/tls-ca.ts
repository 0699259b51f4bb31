// A local certificate authority for mutual TLS: the CA certificate and leaf certificates it signs, as PEM.
import {createPrivateKey, type KeyObject, randomBytes, webcrypto, X509Certificate} from 'node:crypto'
import {RestwireError} from '../errors.js'
import {describeCertificate, type TlsCertificateInfo} from './tls-certificate-info.js'
import {
  assertTlsIdentityName,
  identityNameSan,
  parseSubjectAltName,
  type SubjectAltName,
  uniqueSubjectAltNames,
} from './tls-names.js'

export type TlsKeyType = 'ecdsa' | 'rsa'
export type TlsUsage = 'serverAuth' | 'clientAuth'

export const TLS_KEY_TYPE_NAMES: readonly TlsKeyType[] = ['ecdsa', 'rsa']
export const TLS_RSA_BITS = [2048, 3072, 4096] as const
export const TLS_ECDSA_BITS = [256, 384] as const
export const DEFAULT_TLS_RSA_BITS = 2048
export const DEFAULT_CA_DAYS = 3650
// 825 days: the longest validity Apple platforms accept for a TLS server certificate.
export const DEFAULT_LEAF_DAYS = 825
export const MAX_DAYS = 36_500
export const DEFAULT_CA_COMMON_NAME = 'restwire local CA'
// notBefore lies this far in the past, so a peer whose clock is a little behind accepts a new certificate.
const CLOCK_SKEW_MS = 60_000
const DAY_MS = 86_400_000
const SERIAL_NUMBER_BYTES = 16

export interface TlsKeyOptions {
  /** Default ecdsa (P-256). */
  type?: TlsKeyType
  /** ECDSA 256 (default) or 384; RSA 2048 (default), 3072 or 4096. */
  bits?: number
}

export interface CertificateAuthorityOptions extends TlsKeyOptions {
  commonName?: string
  days?: number
  /** The issue time (tests); default now. */
  now?: Date
}

export interface IssueCertificateOptions extends TlsKeyOptions {
  ca: TlsPemPair
  /** The identity name: subject CN and first SAN. */
  name: string
  /** More SANs: DNS names or IPv4/IPv6 addresses. */
  sans?: readonly string[]
  /** Extended key usages; empty or absent means both. */
  usages?: readonly TlsUsage[]
  days?: number
  now?: Date
  /** Names the CA in error messages (a file path); default "the CA certificate". */
  caSource?: string
}

export interface TlsPemPair {
  /** PEM `CERTIFICATE`. */
  certificate: string
  /** PEM `PRIVATE KEY` (unencrypted PKCS#8). */
  privateKey: string
}

export interface TlsCertificateResult extends TlsPemPair {
  info: TlsCertificateInfo
}

// WebCrypto types: the project compiles without the DOM library, so they come from node:crypto.
type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair
type SigningAlgorithm = webcrypto.Algorithm | webcrypto.EcdsaParams
type X509Module = typeof import('@peculiar/x509')
let x509Module: Promise<X509Module> | undefined

/** @peculiar/x509 on Node's WebCrypto, loaded on first use: only the commands that make certificates pay for it. */
function loadX509(): Promise<X509Module> {
  x509Module ??= (async () => {
    // tsyringe, which @peculiar/x509 uses, needs the Reflect metadata polyfill before it loads.
    await import('reflect-metadata')
    const x509 = await import('@peculiar/x509')
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<X509Module['cryptoProvider']['set']>[0])
    return x509
  })()
  return x509Module
}

export async function createCertificateAuthority(options: CertificateAuthorityOptions = {}): Promise<TlsCertificateResult> {
  const commonName = options.commonName ?? DEFAULT_CA_COMMON_NAME
  if (commonName.trim() === '' || commonName.length > 64 || [...commonName].some((char) => char.charCodeAt(0) < 0x20)) {
    throw new RestwireError('RW_ERR_USAGE', `The CA name must be 1-64 printable characters, got "${commonName}"`)
  }

  const key = keyAlgorithm(options)
  const validity = validityPeriod(options.days ?? DEFAULT_CA_DAYS, options.now)
  const x509 = await loadX509()
  const keys = await generateKeys(key)
  const subject = [{CN: [commonName]}]
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject,
    issuer: subject,
    ...validity,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: key.signing,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return finish(certificate.toString('pem'), keys.privateKey)
}

export async function issueCertificate(options: IssueCertificateOptions): Promise<TlsCertificateResult> {
  assertTlsIdentityName(options.name)
  const sans = uniqueSubjectAltNames([identityNameSan(options.name), ...(options.sans ?? []).map(parseSubjectAltName)])
  const usages: TlsUsage[] = options.usages?.length ? [...new Set(options.usages)] : ['serverAuth', 'clientAuth']
  const key = keyAlgorithm(options)
  const now = options.now ?? new Date()
  const ca = openCertificateAuthority(options.ca, options.caSource ?? 'the CA certificate', now)
  const validity = validityPeriod(options.days ?? DEFAULT_LEAF_DAYS, now)
  // A leaf cannot outlive its CA: peers would reject it from the CA's expiry on anyway.
  if (validity.notAfter > ca.notAfter) validity.notAfter = ca.notAfter

  const x509 = await loadX509()
  const caCertificate = new x509.X509Certificate(options.ca.certificate)
  const caSigning = caSigningAlgorithm(ca.key)
  const signingKey = await webcrypto.subtle.importKey(
    'pkcs8',
    ca.key.export({format: 'der', type: 'pkcs8'}),
    caSigning.import,
    false,
    ['sign'],
  )
  const keys = await generateKeys(key)
  const caKeyId = caCertificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId
  let keyUsage = x509.KeyUsageFlags.digitalSignature
  if (key.type === 'rsa') keyUsage |= x509.KeyUsageFlags.keyEncipherment
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{CN: [options.name]}],
    issuer: caCertificate.subjectName,
    ...validity,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: caSigning.signing,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension(usages.map((usage) => x509.ExtendedKeyUsage[usage]), false),
      new x509.SubjectAlternativeNameExtension(sans.map((san: SubjectAltName) => ({type: san.type, value: san.value})), false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      caKeyId === undefined
        ? await x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey)
        : new x509.AuthorityKeyIdentifierExtension(caKeyId),
    ],
  })
  return finish(certificate.toString('pem'), keys.privateKey)
}

interface OpenedCertificateAuthority {
  key: KeyObject
  notAfter: Date
}

/** Checks that a PEM pair is a usable CA: a CA certificate, still valid, with the private key that matches it. */
function openCertificateAuthority(pair: TlsPemPair, source: string, now: Date): OpenedCertificateAuthority {
  const invalid = (reason: string, cause?: unknown): RestwireError =>
    new RestwireError('RW_ERR_KEY_FILE', `${source}: ${reason}`, {
      cause,
      hint: 'Make a CA with: restwire keys ca --dir DIR',
    })
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(pair.certificate)
  } catch (error) {
    throw invalid('not a PEM certificate', error)
  }

  let key: KeyObject
  try {
    key = createPrivateKey(pair.privateKey)
  } catch (error) {
    throw invalid('the CA private key is not an unencrypted PEM private key', error)
  }

  if (!certificate.ca) throw invalid('not a CA certificate (basicConstraints CA:FALSE)')
  if (!certificate.checkPrivateKey(key)) throw invalid('the CA private key does not belong to the CA certificate')
  const notAfter = new Date(certificate.validTo)
  if (notAfter <= now) throw invalid(`the CA certificate expired on ${notAfter.toISOString()}`)
  return {key, notAfter}
}

interface KeyAlgorithm {
  type: TlsKeyType
  generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams
  signing: SigningAlgorithm
}

function keyAlgorithm(options: TlsKeyOptions): KeyAlgorithm {
  const type = options.type ?? 'ecdsa'
  const {bits} = options
  if (type === 'rsa') {
    if (bits !== undefined && !(TLS_RSA_BITS as readonly number[]).includes(bits)) {
      throw new RestwireError('RW_ERR_USAGE', `RSA keys must be ${TLS_RSA_BITS.join(', ')} bits, not ${bits}`)
    }

    const generate = {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: bits ?? DEFAULT_TLS_RSA_BITS,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    }
    return {type, generate, signing: {name: 'RSASSA-PKCS1-v1_5'}}
  }

  if (type !== 'ecdsa') throw new RestwireError('RW_ERR_USAGE', `Unknown key type "${String(type)}"; use ecdsa or rsa`)
  if (bits !== undefined && !(TLS_ECDSA_BITS as readonly number[]).includes(bits)) {
    throw new RestwireError('RW_ERR_USAGE', `ECDSA keys must be ${TLS_ECDSA_BITS.join(' or ')} bits, not ${bits}`)
  }

  const size = bits ?? 256
  return {type, generate: {name: 'ECDSA', namedCurve: `P-${size}`}, signing: {name: 'ECDSA', hash: `SHA-${size}`} as webcrypto.EcdsaParams}
}

/** How the CA key signs: ECDSA with the hash that matches its curve, or RSA PKCS#1 v1.5 with SHA-256. */
function caSigningAlgorithm(key: KeyObject): {import: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams; signing: SigningAlgorithm} {
  if (key.asymmetricKeyType === 'rsa') {
    return {import: {name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256'}, signing: {name: 'RSASSA-PKCS1-v1_5'}}
  }

  const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined
  const size = curve === 'prime256v1' ? 256 : curve === 'secp384r1' ? 384 : undefined
  if (size === undefined) {
    throw new RestwireError('RW_ERR_KEY_FILE', `The CA key type (${key.asymmetricKeyType ?? 'unknown'} ${curve ?? ''}) is not supported; use ECDSA P-256/P-384 or RSA`)
  }

  return {import: {name: 'ECDSA', namedCurve: `P-${size}`}, signing: {name: 'ECDSA', hash: `SHA-${size}`} as webcrypto.EcdsaParams}
}

function validityPeriod(days: number, now = new Date()): {notBefore: Date; notAfter: Date} {
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new RestwireError('RW_ERR_USAGE', `--days must be a whole number from 1 to ${MAX_DAYS}, not ${days}`)
  }

  // Whole seconds: certificates store times to the second.
  const start = Math.floor(now.getTime() / 1000) * 1000
  return {notBefore: new Date(start - CLOCK_SKEW_MS), notAfter: new Date(start + days * DAY_MS)}
}

async function generateKeys(key: KeyAlgorithm): Promise<CryptoKeyPair> {
  try {
    return (await webcrypto.subtle.generateKey(key.generate, true, ['sign', 'verify'])) as CryptoKeyPair
  } catch (error) {
    throw new RestwireError('RW_ERR_INTERNAL', `Could not generate the ${key.type} key: ${String(error)}`, {cause: error})
  }
}

/** A positive 16-byte serial number of full length: the top bit clear (positive), the next one set (no leading zero byte). */
function randomSerialNumber(): string {
  const bytes = randomBytes(SERIAL_NUMBER_BYTES)
  bytes[0] = (bytes[0]! & 0x7f) | 0x40
  return bytes.toString('hex')
}

async function finish(certificate: string, privateKey: CryptoKey): Promise<TlsCertificateResult> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', privateKey))
  const privateKeyPem = createPrivateKey({key: pkcs8, format: 'der', type: 'pkcs8'}).export({format: 'pem', type: 'pkcs8'}).toString()
  const certificatePem = certificate.trim() + '\n'
  return {certificate: certificatePem, privateKey: privateKeyPem, info: describeCertificate(certificatePem)}
}
