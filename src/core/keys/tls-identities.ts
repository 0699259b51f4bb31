// Making TLS identities on disk: a CA, an identity signed by it, and the quick-start set (CA + hub + nodes).
import {resolve} from 'node:path'
import {
  createCertificateAuthority,
  issueCertificate,
  type TlsCertificateResult,
  type TlsKeyOptions,
  type TlsUsage,
} from './tls-ca.js'
import type {TlsCertificateInfo} from './tls-certificate-info.js'
import {
  assertTlsFilesFree,
  installCaCertificate,
  readCertificateAuthority,
  tlsCaPaths,
  tlsIdentityPaths,
  type TlsPairPaths,
  writeTlsPair,
} from './tls-identity-files.js'
import {RestwireError} from '../errors.js'

export const DEFAULT_QUICKSTART_HUB = 'hub'
export const DEFAULT_QUICKSTART_NODES: readonly string[] = ['node1']
// The hub of the quick start answers on this machine under any of these names.
export const QUICKSTART_HUB_SANS: readonly string[] = ['localhost', '127.0.0.1', '::1']

export interface WrittenCertificate extends TlsCertificateInfo {
  /** The identity name; `ca` for the CA. */
  name: string
  certificatePath: string
  privateKeyPath: string
}

export interface MakeCertificateAuthorityOptions extends TlsKeyOptions {
  dir: string
  commonName?: string
  days?: number
  force?: boolean
}

/** Creates DIR/ca.pem and DIR/ca-key.pem. */
export async function makeCertificateAuthority(options: MakeCertificateAuthorityOptions): Promise<WrittenCertificate> {
  const paths = tlsCaPaths(resolve(options.dir))
  if (!options.force) await assertTlsFilesFree([paths.certificate, paths.privateKey])
  const ca = await createCertificateAuthority(options)
  return write('ca', paths, ca, options.force)
}

export interface MakeTlsIdentityOptions extends TlsKeyOptions {
  /** The directory holding ca.pem and ca-key.pem. */
  caDir: string
  /** Where NAME.pem and NAME-key.pem go; default caDir. */
  outDir?: string
  name: string
  sans?: readonly string[]
  /** Empty or absent: both serverAuth and clientAuth. */
  usages?: readonly TlsUsage[]
  days?: number
  force?: boolean
}

export interface MakeTlsIdentityResult extends WrittenCertificate {
  /** ca.pem in the output directory (the CA's own when outDir is caDir). */
  caCertificatePath: string
}

/**
 * Issues NAME's certificate from the CA in caDir and writes NAME.pem and NAME-key.pem to outDir. An outDir
 * other than caDir also gets a copy of ca.pem (never the CA key), so it is a complete identity directory.
 */
export async function makeTlsIdentity(options: MakeTlsIdentityOptions): Promise<MakeTlsIdentityResult> {
  const caDir = resolve(options.caDir)
  const outDir = resolve(options.outDir ?? caDir)
  const paths = tlsIdentityPaths(outDir, options.name)
  if (!options.force) await assertTlsFilesFree([paths.certificate, paths.privateKey])
  const ca = await readCertificateAuthority(caDir)
  const {name, sans, usages, days, type, bits} = options
  const issued = await issueCertificate({ca, caSource: tlsCaPaths(caDir).certificate, name, sans, usages, days, type, bits})
  const caCertificatePath = outDir === caDir ? tlsCaPaths(caDir).certificate : (await installCaCertificate(outDir, ca.certificate, options)).path
  return {...(await write(options.name, paths, issued, options.force)), caCertificatePath}
}

export interface MakeQuickStartOptions extends TlsKeyOptions {
  dir: string
  commonName?: string
  /** The hub's identity name; default `hub`. */
  hub?: string
  /** More SANs for the hub (its public DNS name or address), beside localhost, 127.0.0.1 and ::1. */
  hubSans?: readonly string[]
  /** The nodes' identity names; default `node1`. */
  nodes?: readonly string[]
  caDays?: number
  days?: number
  force?: boolean
}

export interface MakeQuickStartResult {
  ca: WrittenCertificate
  hub: WrittenCertificate
  nodes: WrittenCertificate[]
}

/**
 * The quick start in one call: a CA, a hub identity (serverAuth and clientAuth, valid for this machine's
 * names) and node identities (clientAuth), all in one directory. Every file is checked before any is written.
 */
export async function makeQuickStart(options: MakeQuickStartOptions): Promise<MakeQuickStartResult> {
  const dir = resolve(options.dir)
  const hub = options.hub ?? DEFAULT_QUICKSTART_HUB
  const nodes = options.nodes?.length ? [...options.nodes] : [...DEFAULT_QUICKSTART_NODES]
  const names = [hub, ...nodes]
  const repeated = names.find((name, index) => names.indexOf(name) !== index)
  if (repeated !== undefined) throw new RestwireError('RW_ERR_USAGE', `The identity name "${repeated}" is given twice`)
  const caPaths = tlsCaPaths(dir)
  const identityPaths = names.map((name) => tlsIdentityPaths(dir, name))
  if (!options.force) {
    await assertTlsFilesFree([caPaths, ...identityPaths].flatMap((paths) => [paths.certificate, paths.privateKey]))
  }

  const {days, type, bits} = options
  const ca = await createCertificateAuthority({commonName: options.commonName, days: options.caDays, type, bits})
  const hubCertificate = await issueCertificate({
    ca,
    name: hub,
    sans: [...QUICKSTART_HUB_SANS, ...(options.hubSans ?? [])],
    usages: ['serverAuth', 'clientAuth'],
    days,
    type,
    bits,
  })
  const nodeCertificates = []
  for (const node of nodes) nodeCertificates.push(await issueCertificate({ca, name: node, usages: ['clientAuth'], days, type, bits}))

  const written = {
    ca: await write('ca', caPaths, ca, options.force),
    hub: await write(hub, identityPaths[0]!, hubCertificate, options.force),
    nodes: [] as WrittenCertificate[],
  }
  for (const [index, node] of nodes.entries()) {
    written.nodes.push(await write(node, identityPaths[index + 1]!, nodeCertificates[index]!, options.force))
  }

  return written
}

async function write(name: string, paths: TlsPairPaths, issued: TlsCertificateResult, force = false): Promise<WrittenCertificate> {
  await writeTlsPair(paths, issued, {force})
  return {name, certificatePath: paths.certificate, privateKeyPath: paths.privateKey, ...issued.info}
}
