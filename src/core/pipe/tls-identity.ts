// Loads a pipe TLS identity from an identity directory (ca.pem, NAME.pem, NAME-key.pem, as written by
// `restwire keys ca` / `keys cert`), with per-file overrides, and names the peer in a certificate.
import {readFile} from 'node:fs/promises'
import type {PeerCertificate} from 'node:tls'
import {RestwireError, errnoCode} from '../errors.js'
import {tlsCaPaths, tlsIdentityPaths} from '../keys/tls-identity-files.js'

export interface PipeIdentityOptions {
  /** The identity directory. */
  dir?: string
  /** This side's name: NAME.pem and NAME-key.pem in dir. */
  name?: string
  certFile?: string
  keyFile?: string
  caFile?: string
}

export interface PipeIdentity {
  /** PEM: the CA that signs every hub and node certificate. */
  ca: Buffer
  cert: Buffer
  key: Buffer
}

export async function loadPipeIdentity(options: PipeIdentityOptions): Promise<PipeIdentity> {
  const inDir = (file: string | undefined, what: string, flag: string): string => {
    if (file) return file
    if (!options.dir) throw new RestwireError('RW_ERR_USAGE', `no ${what}: pass --ca DIR (an identity directory) or --${flag} FILE`)
    if (!options.name && what !== 'CA certificate') throw new RestwireError('RW_ERR_USAGE', `no ${what}: pass --name NAME (NAME.pem in ${options.dir}) or --${flag} FILE`)
    if (what === 'CA certificate') return tlsCaPaths(options.dir).certificate
    const paths = tlsIdentityPaths(options.dir, options.name!)
    return what === 'certificate' ? paths.certificate : paths.privateKey
  }

  // All paths first: a missing flag must fail before any read is under way.
  const paths = [inDir(options.caFile, 'CA certificate', 'ca-file'), inDir(options.certFile, 'certificate', 'cert'), inDir(options.keyFile, 'private key', 'key')]
  const {dir, name} = options
  const caHint = dir && !options.caFile ? `Make a CA there with: restwire keys ca --dir ${dir}` : undefined
  const hint = dir && name ? `Make it with: restwire keys cert --ca ${dir} --name ${name}` : undefined
  const [ca, cert, key] = await Promise.all([
    readPem(paths[0]!, 'CA certificate', caHint),
    readPem(paths[1]!, 'certificate', options.certFile ? undefined : hint),
    readPem(paths[2]!, 'private key', options.keyFile ? undefined : hint),
  ])
  return {ca, cert, key}
}

async function readPem(path: string, what: string, hint: string | undefined): Promise<Buffer> {
  let content: Buffer
  try {
    content = await readFile(path)
  } catch (error) {
    const reason = errnoCode(error) === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new RestwireError('RW_ERR_CONFIG', `cannot read the ${what} ${path}: ${reason}`, {
      cause: error,
      hint: hint ?? 'Make an identity directory with `restwire keys ca --dir DIR --quickstart`, or `keys cert --ca DIR --name NAME`.',
    })
  }

  if (!content.includes('-----BEGIN ')) throw new RestwireError('RW_ERR_CONFIG', `${path} is not a PEM file (the ${what})`)
  return content
}

/** A peer's name: the certificate's CN, else its first DNS subject alternative name. */
export function certificateName(cert: PeerCertificate | undefined): string | undefined {
  if (!cert) return undefined
  const cn = cert.subject?.CN
  if (typeof cn === 'string' && cn !== '') return cn
  if (Array.isArray(cn) && typeof cn[0] === 'string') return cn[0]
  const dns = /(?:^|,\s*)DNS:([^,]+)/.exec(cert.subjectaltname ?? '')
  return dns?.[1]
}
