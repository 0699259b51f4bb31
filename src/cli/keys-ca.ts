// `keys ca` glue: make a CA (or, with --quickstart, a CA plus hub and node identities) and report it.
import {basename} from 'node:path'
import {RestwireError, isRestwireError} from '../core/errors.js'
import {
  makeCertificateAuthority,
  makeQuickStart,
  type WrittenCertificate,
} from '../core/keys/tls-identities.js'
import type {TlsKeyType} from '../core/keys/tls-ca.js'
import {writeStdout} from './output.js'
import {formatWrittenCertificate, inspectHint} from './tls-certificate-summary.js'

export interface KeysCaOptions {
  out: string
  commonName?: string
  days?: number
  type: TlsKeyType
  bits?: number
  force: boolean
  quickstart: boolean
  hub?: string
  nodes?: string[]
  sans?: string[]
  json: boolean
}

export interface KeysCaResult {
  ca: WrittenCertificate
  /** With --quickstart: the hub first, then each node. Otherwise empty. */
  identities: WrittenCertificate[]
}

export async function runKeysCa(options: KeysCaOptions): Promise<KeysCaResult> {
  try {
    return await makeAndReport(options)
  } catch (error) {
    throw existingCaError(error, options.out)
  }
}

/**
 * An existing CA is most often met by someone who wants more identities: point at `keys cert`, and say
 * what --force really does (a new CA, which orphans every identity the old one signed).
 */
function existingCaError(error: unknown, dir: string): unknown {
  const path = isRestwireError(error, 'RW_ERR_FILE_EXISTS') ? error.details?.path : undefined
  if (typeof path !== 'string' || !['ca.pem', 'ca-key.pem'].includes(basename(path))) return error
  return new RestwireError('RW_ERR_FILE_EXISTS', `${path} already exists: ${dir} already holds a CA`, {
    cause: error,
    details: error instanceof RestwireError ? error.details : undefined,
    hint: `To add identities to this CA, run: restwire keys cert --ca ${dir} --name NAME. --force would replace the CA, and peers holding the new ca.pem then refuse every identity the old one signed.`,
  })
}

async function makeAndReport(options: KeysCaOptions): Promise<KeysCaResult> {
  const {out: dir, commonName, type, bits, force} = options
  let result: KeysCaResult
  if (options.quickstart) {
    const made = await makeQuickStart({
      dir,
      commonName,
      caDays: options.days,
      type,
      bits,
      force,
      hub: options.hub,
      nodes: options.nodes,
      hubSans: options.sans,
    })
    result = {ca: made.ca, identities: [made.hub, ...made.nodes]}
  } else {
    result = {ca: await makeCertificateAuthority({dir, commonName, days: options.days, type, bits, force}), identities: []}
  }

  if (!options.json) {
    const blocks = [result.ca, ...result.identities].map(formatWrittenCertificate)
    const inspect = inspectHint(result.identities[0]?.certificatePath ?? result.ca.certificatePath)
    writeStdout([...blocks, 'Keep ca-key.pem secret: whoever has it can make identities this CA vouches for.', inspect].join('\n'))
  }

  return result
}
