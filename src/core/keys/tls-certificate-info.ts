// What a certificate says, read back with Node's own X.509 parser (not the library that wrote it).
import {X509Certificate} from 'node:crypto'

export interface TlsCertificateInfo {
  /** `CN=hub` (Node's one-attribute-per-line form, lines joined with ", "). */
  subject: string
  issuer: string
  /** `DNS:hub`, `IP:127.0.0.1`, `IP:::1`, in certificate order. */
  sans: string[]
  /** Extended key usages by name (`serverAuth`, `clientAuth`) or OID; empty when the certificate has none. */
  usages: string[]
  isCa: boolean
  /** `ecdsa-p256`, `ecdsa-p384`, `rsa-2048`... */
  keyType: string
  /** Hex, upper case, as openssl prints it. */
  serialNumber: string
  notBefore: string
  notAfter: string
  /** SHA-256 of the DER certificate, colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string
}

const USAGE_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
}

const CURVE_NAMES: Record<string, string> = {prime256v1: 'p256', secp384r1: 'p384', secp521r1: 'p521'}

export function describeCertificate(pem: string | Buffer): TlsCertificateInfo {
  const certificate = new X509Certificate(pem)
  const {asymmetricKeyType: algorithm, asymmetricKeyDetails: details} = certificate.publicKey
  const curve = details?.namedCurve ?? ''
  const keyType = algorithm === 'rsa' ? `rsa-${details?.modulusLength}` : `${algorithm === 'ec' ? 'ecdsa' : algorithm}-${CURVE_NAMES[curve] ?? curve}`
  return {
    subject: certificate.subject.split('\n').join(', '),
    issuer: certificate.issuer.split('\n').join(', '),
    sans: parseSubjectAltNames(certificate.subjectAltName),
    usages: (certificate.keyUsage ?? []).map((oid) => USAGE_NAMES[oid] ?? oid),
    isCa: certificate.ca,
    keyType,
    serialNumber: certificate.serialNumber.toUpperCase(),
    notBefore: new Date(certificate.validFrom).toISOString(),
    notAfter: new Date(certificate.validTo).toISOString(),
    fingerprint: certificate.fingerprint256,
  }
}

/** Node prints `DNS:hub, IP Address:127.0.0.1`; our names never hold ", " so a split is exact. */
function parseSubjectAltNames(text: string | undefined): string[] {
  if (!text) return []
  return text.split(', ').map((entry) => (entry.startsWith('IP Address:') ? `IP:${compactIp(entry.slice('IP Address:'.length))}` : entry))
}

/** Node prints IPv6 SANs in full (`0:0:0:0:0:0:0:1`); the URL parser writes the usual compressed form (`::1`). */
function compactIp(address: string): string {
  if (!address.includes(':')) return address
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1)
  } catch {
    return address.toLowerCase()
  }
}
