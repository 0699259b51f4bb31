// The TLS identity directory: ca.pem + ca-key.pem for the CA, NAME.pem + NAME-key.pem for each identity.
// `pipe serve` and `pipe connect` take `--ca DIR --name NAME` and find their files here, so the layout is fixed.
import {access, mkdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {createFileExclusive, replaceFile} from '../atomic-file.js'
import {errnoCode, RestwireError} from '../errors.js'
import {fileErrorReason} from '../fs-errors.js'
import type {TlsPemPair} from './tls-ca.js'
import {assertTlsIdentityName} from './tls-names.js'

export const CA_CERTIFICATE_FILE = 'ca.pem'
export const CA_PRIVATE_KEY_FILE = 'ca-key.pem'
const CERTIFICATE_MODE = 0o644
const PRIVATE_KEY_MODE = 0o600
const DIRECTORY_MODE = 0o700

export interface TlsPairPaths {
  certificate: string
  privateKey: string
}

export function tlsCaPaths(dir: string): TlsPairPaths {
  return {certificate: join(dir, CA_CERTIFICATE_FILE), privateKey: join(dir, CA_PRIVATE_KEY_FILE)}
}

export function tlsIdentityPaths(dir: string, name: string): TlsPairPaths {
  assertTlsIdentityName(name)
  return {certificate: join(dir, `${name}.pem`), privateKey: join(dir, `${name}-key.pem`)}
}

/** Throws RW_ERR_FILE_EXISTS naming the first path that exists, so callers fail before generating anything. */
export async function assertTlsFilesFree(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    if (await exists(path)) throw fileExists(path)
  }
}

export interface WriteTlsPairOptions {
  force?: boolean
}

/**
 * Writes a key (0600) and its certificate (0644), creating the directory 0700 if missing. Each file appears
 * whole or not at all; without `force` an existing file is never replaced.
 */
export async function writeTlsPair(paths: TlsPairPaths, pair: TlsPemPair, options: WriteTlsPairOptions = {}): Promise<void> {
  await writeTlsFile(paths.privateKey, pair.privateKey, PRIVATE_KEY_MODE, options)
  await writeTlsFile(paths.certificate, pair.certificate, CERTIFICATE_MODE, options)
}

export interface InstallCaCertificateResult {
  path: string
  /** False when the directory already held this same CA certificate. */
  written: boolean
}

/**
 * Puts the CA certificate (never its key) into an identity directory other than the CA's, so that the
 * directory alone is enough for `--ca DIR --name NAME` on another machine. A different ca.pem already
 * there is replaced only with `force`.
 */
export async function installCaCertificate(dir: string, certificate: string, options: WriteTlsPairOptions = {}): Promise<InstallCaCertificateResult> {
  const path = join(dir, CA_CERTIFICATE_FILE)
  const existing = await readOptional(path)
  if (existing !== undefined && existing === certificate) return {path, written: false}
  if (existing !== undefined && !options.force) {
    throw new RestwireError('RW_ERR_FILE_EXISTS', `${path} already exists and holds a different CA certificate`, {
      details: {path},
      hint: 'Pass --force to replace it, or choose another --dir.',
    })
  }

  await writeTlsFile(path, certificate, CERTIFICATE_MODE, {force: true})
  return {path, written: true}
}

/** Reads the CA certificate and private key from DIR, with errors that say which file is missing or unreadable. */
export async function readCertificateAuthority(dir: string): Promise<TlsPemPair> {
  const paths = tlsCaPaths(dir)
  const hint = `Make a CA with: restwire keys ca --dir ${dir}`
  try {
    await access(dir)
  } catch (error) {
    throw new RestwireError('RW_ERR_KEY_FILE', `CA directory ${dir}: ${fileErrorReason(error)}`, {cause: error, hint, details: {path: dir}})
  }

  return {
    certificate: await readTlsFile(paths.certificate, 'the CA certificate', hint),
    privateKey: await readTlsFile(paths.privateKey, 'the CA private key (a copy of the CA directory without it can verify, not sign)', hint),
  }
}

async function readTlsFile(path: string, what: string, hint: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot read ${what}, ${path}: ${fileErrorReason(error)}`, {
      cause: error,
      hint: errnoCode(error) === 'ENOENT' ? hint : undefined,
      details: {path},
    })
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot read ${path}: ${fileErrorReason(error)}`, {cause: error, details: {path}})
  }
}

async function writeTlsFile(path: string, data: string, mode: number, options: WriteTlsPairOptions): Promise<void> {
  try {
    await mkdir(join(path, '..'), {recursive: true, mode: DIRECTORY_MODE})
    if (options.force) {
      await replaceFile(path, data, mode)
      return
    }

    if (!(await createFileExclusive(path, data, mode))) throw fileExists(path)
  } catch (error) {
    if (error instanceof RestwireError) throw error
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot write ${path}: ${fileErrorReason(error)}`, {cause: error, details: {path}})
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false
    throw new RestwireError('RW_ERR_KEY_FILE', `Cannot check ${path}: ${fileErrorReason(error)}`, {cause: error, details: {path}})
  }
}

function fileExists(path: string): RestwireError {
  return new RestwireError('RW_ERR_FILE_EXISTS', `${path} already exists`, {details: {path}})
}
