// `keys cert` glue: issue NAME's certificate from the CA directory and report it.
import type {TlsKeyType, TlsUsage} from '../core/keys/tls-ca.js'
import {makeTlsIdentity, type MakeTlsIdentityResult} from '../core/keys/tls-identities.js'
import {writeStdout} from './output.js'
import {formatWrittenCertificate, inspectHint} from './tls-certificate-summary.js'

export interface KeysCertOptions {
  ca: string
  name: string
  sans?: string[]
  server: boolean
  client: boolean
  out?: string
  days?: number
  type: TlsKeyType
  bits?: number
  force: boolean
  json: boolean
}

export type KeysCertResult = MakeTlsIdentityResult

export async function runKeysCert(options: KeysCertOptions): Promise<KeysCertResult> {
  // Neither flag, or both, gives both usages.
  const usages: TlsUsage[] = []
  if (options.server) usages.push('serverAuth')
  if (options.client) usages.push('clientAuth')
  const result = await makeTlsIdentity({
    caDir: options.ca,
    outDir: options.out,
    name: options.name,
    sans: options.sans,
    usages,
    days: options.days,
    type: options.type,
    bits: options.bits,
    force: options.force,
  })
  if (!options.json) {
    writeStdout([formatWrittenCertificate(result), `  CA      ${result.caCertificatePath}`, inspectHint(result.certificatePath)].join('\n'))
  }

  return result
}
