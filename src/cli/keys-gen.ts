// `keys gen` glue: resolve the passphrase and paths, generate and write the pair, render like ssh-keygen.
import {hostname, userInfo} from 'node:os'
import {join, resolve} from 'node:path'
import chalk from 'chalk'
import {RestwireError} from '../core/errors.js'
import {restwireHome} from '../core/home.js'
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
}

export async function runKeysGen(options: KeysGenOptions): Promise<KeysGenResult> {
  const path = resolve(options.out ?? join(restwireHome(), sshKeyFileName(options.type)))
  if (!options.force) await assertKeyPairPathsFree(path)
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

  if (!options.json) render(result, comment)
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
  if (result.authorized) {
    lines.push(
      result.authorized.added
        ? `Added the public key to ${chalk.bold(result.authorized.file)}`
        : `${chalk.bold(result.authorized.file)} already authorizes this key`,
    )
  }

  writeStdout(lines.join('\n'))
}
