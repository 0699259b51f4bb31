// `keys gen` glue: resolve the passphrase and paths, generate and write the pair, render like ssh-keygen.
import {existsSync} from 'node:fs'
import {hostname, userInfo} from 'node:os'
import {join, resolve} from 'node:path'
import chalk from 'chalk'
import {RestwireError} from '../core/errors.js'
import {isKeyAuthorized, localPaths, restwireHome} from '../core/home.js'
import {
  appendAuthorizedKey,
  assertKeyPairPathsFree,
  generateSshKeyPair,
  type SshKeyType,
  sshKeyFileName,
  writeSshKeyPair,
} from '../core/keys/ssh-key-pair.js'
import {writeStdout} from './output.js'
import {askNewPassphrase} from './prompts.js'

export interface KeysGenOptions {
  type: SshKeyType
  out?: string
  bits?: number
  comment?: string
  passphraseEnv?: string
  promptPassphrase: boolean
  force: boolean
  authorize?: string
  json: boolean
}

export interface KeysGenResult {
  privateKeyPath: string
  publicKeyPath: string
  fingerprint: string
  type: SshKeyType
  /** Present with --authorize: the file, and whether the key was added (false: it was already there). */
  authorized?: {file: string; added: boolean}
  /**
   * Present when --force replaced the restwire home's client key, which the home's authorized_keys
   * authorized: the new key is authorized there too, so local servers keep accepting `korv call`.
   */
  reauthorized?: {file: string; added: boolean}
}

export async function runKeysGen(options: KeysGenOptions): Promise<KeysGenResult> {
  const path = resolve(options.out ?? join(restwireHome(), sshKeyFileName(options.type)))
  if (!options.force) await assertKeyPairPathsFree(path)
  // Replacing the zero-config client key must not lock `korv call` out of `korv serve` on this machine.
  const home = localPaths()
  const homeKey = path === resolve(home.clientKey)
  const keepAuthorized = homeKey && options.force && (await isKeyAuthorized(path, home.authorizedKeys))
  const passphrase = await resolvePassphrase(options)
  const comment = options.comment ?? defaultComment()
  const pair = await generateSshKeyPair({type: options.type, bits: options.bits, comment, passphrase})
  if (!options.json) writeStdout(`Generating public/private ${options.type} key pair.`)
  const written = await writeSshKeyPair(path, pair, {force: options.force})
  const result: KeysGenResult = {...written, fingerprint: pair.fingerprint, type: pair.type}
  if (options.authorize !== undefined) {
    const file = resolve(options.authorize)
    const {added} = await appendAuthorizedKey(file, pair.publicKey)
    result.authorized = {file, added}
  }

  if (keepAuthorized) {
    const file = resolve(home.authorizedKeys)
    result.reauthorized = result.authorized?.file === file ? result.authorized : {added: (await appendAuthorizedKey(file, pair.publicKey)).added, file}
  }

  if (!options.json) render(result, comment)
  if (homeKey && !options.json && existsSync(home.authorizedKeys) && !(await isKeyAuthorized(path, home.authorizedKeys))) {
    process.stderr.write(
      `Note: ${home.authorizedKeys} does not authorize this key, so a korv serve on this machine without --authorized-keys refuses it; add ${path}.pub there to allow it.\n`,
    )
  }

  return result
}

async function resolvePassphrase(options: KeysGenOptions): Promise<string | undefined> {
  if (options.passphraseEnv !== undefined) {
    const value = process.env[options.passphraseEnv]
    if (value === undefined) {
      throw new RestwireError('RW_ERR_USAGE', `--passphrase-env ${options.passphraseEnv}: that environment variable is not set`)
    }

    return value
  }

  return options.promptPassphrase ? askNewPassphrase() : undefined
}

/** user@host, as ssh-keygen writes by default. */
function defaultComment(): string {
  let user = process.env.USER ?? 'restwire'
  try {
    user = userInfo().username
  } catch {
    // No passwd entry (some containers): keep $USER.
  }

  return `${user}@${hostname()}`
}

function render(result: KeysGenResult, comment: string): void {
  const lines = [
    `Your identification has been saved in ${chalk.bold(result.privateKeyPath)}`,
    `Your public key has been saved in ${chalk.bold(result.publicKeyPath)}`,
    `The key fingerprint is: ${chalk.cyan(result.fingerprint)}${comment ? ` ${comment}` : ''}`,
  ]
  if (result.reauthorized && result.reauthorized !== result.authorized) {
    lines.push(`Authorized the new key in ${chalk.bold(result.reauthorized.file)}, as it authorized the key it replaces`)
  }

  if (result.authorized) {
    lines.push(
      result.authorized.added
        ? `Added the public key to ${chalk.bold(result.authorized.file)}`
        : `${chalk.bold(result.authorized.file)} already authorizes this key`,
    )
  }

  writeStdout(lines.join('\n'))
}
