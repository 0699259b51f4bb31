// `restwire keys gen` end to end: the built CLI (npm run build) in a child process, checked with ssh-keygen.
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {restwire} from '../helpers/cli.js'
import {sshKeygen, useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout} from '../helpers/tools.js'

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

describe('restwire keys gen', () => {
  const tempDir = useTempDir()
  const home = (): string => join(tempDir(), 'home')

  it('writes an ed25519 key to the restwire home and reports it like ssh-keygen', {skip: skipWithout('ssh-keygen')}, async () => {
    const result = await restwire(['keys', 'gen', '-C', 'me@test'], {RESTWIRE_HOME: home()})
    assert.equal(result.code, 0, result.stderr)
    const key = join(home(), 'id_ed25519')
    assert.match(result.stdout, new RegExp(`Your identification has been saved in ${key}\n`))
    assert.match(result.stdout, new RegExp(`Your public key has been saved in ${key}\\.pub\n`))
    const fingerprint = /The key fingerprint is: (SHA256:\S+) me@test/.exec(result.stdout)?.[1]
    assert.equal(result.stdout.includes('\u001B['), false, 'no colour when stdout is not a terminal')

    assert.equal(await mode(key), 0o600)
    assert.equal(await mode(`${key}.pub`), 0o644)
    assert.equal(await mode(home()), 0o700)
    assert.equal((await sshKeygen('-l', '-f', key)).split(' ')[1], fingerprint)
  })

  it('refuses to overwrite without --force, naming the file', async () => {
    const env = {RESTWIRE_HOME: join(tempDir(), 'overwrite')}
    assert.equal((await restwire(['keys', 'gen'], env)).code, 0)
    const key = join(env.RESTWIRE_HOME, 'id_ed25519')
    const before = await readFile(key, 'utf8')

    const refused = await restwire(['keys', 'gen'], env)
    assert.equal(refused.code, 10)
    assert.ok(refused.stderr.includes(key), refused.stderr)
    assert.match(refused.stderr, /RW_ERR_FILE_EXISTS/)
    assert.equal(await readFile(key, 'utf8'), before)

    assert.equal((await restwire(['keys', 'gen', '--force'], env)).code, 0)
    assert.notEqual(await readFile(key, 'utf8'), before)
  })

  it('prints the result as JSON and authorizes the key with --authorize', {skip: skipWithout('ssh-keygen')}, async () => {
    const out = join(tempDir(), 'json', 'deploy_key')
    const authorizedKeys = join(tempDir(), 'json', 'authorized_keys')
    const args = ['keys', 'gen', '-t', 'rsa', '-b', '2048', '-f', out, '-C', 'deploy bot', '--authorize', authorizedKeys, '--json']
    const result = await restwire(args, {RESTWIRE_HOME: home()})
    assert.equal(result.code, 0, result.stderr)
    const json = JSON.parse(result.stdout) as Record<string, unknown>
    assert.deepEqual(Object.keys(json).sort(), ['authorized', 'fingerprint', 'privateKeyPath', 'publicKeyPath', 'type'])
    assert.equal(json.privateKeyPath, out)
    assert.equal(json.publicKeyPath, `${out}.pub`)
    assert.equal(json.type, 'rsa')
    assert.deepEqual(json.authorized, {file: authorizedKeys, added: true})
    assert.match(await sshKeygen('-l', '-f', out), new RegExp(`^2048 ${String(json.fingerprint).replaceAll('+', '\\+')} deploy bot \\(RSA\\)`))
    assert.equal(await readFile(authorizedKeys, 'utf8'), await readFile(`${out}.pub`, 'utf8'))
    assert.equal(await mode(authorizedKeys), 0o600)
  })

  it('encrypts with the passphrase from --passphrase-env', {skip: skipWithout('ssh-keygen')}, async () => {
    const out = join(tempDir(), 'encrypted', 'id_ecdsa')
    const env = {RESTWIRE_HOME: home(), TEST_KEY_PASS: 'open sesame'}
    const result = await restwire(['keys', 'gen', '-t', 'ecdsa', '-b', '384', '-f', out, '--passphrase-env', 'TEST_KEY_PASS'], env)
    assert.equal(result.code, 0, result.stderr)
    const derived = await sshKeygen('-y', '-P', 'open sesame', '-f', out)
    assert.equal(derived.split(' ')[1], (await readFile(`${out}.pub`, 'utf8')).split(' ')[1])
    await assert.rejects(sshKeygen('-y', '-P', 'wrong', '-f', out))
  })

  it('fails with usage errors for unset variables, --passphrase off a terminal and bad sizes', async () => {
    const env = {RESTWIRE_HOME: join(tempDir(), 'usage')}
    const unset = await restwire(['keys', 'gen', '--passphrase-env', 'RESTWIRE_TEST_UNSET_VARIABLE'], env)
    assert.equal(unset.code, 2)
    assert.match(unset.stderr, /RESTWIRE_TEST_UNSET_VARIABLE/)

    const noTty = await restwire(['keys', 'gen', '--passphrase'], env)
    assert.equal(noTty.code, 2)
    assert.match(noTty.stderr, /--passphrase-env/)

    const badBits = await restwire(['keys', 'gen', '-t', 'ecdsa', '-b', '300', '--json'], env)
    assert.equal(badBits.code, 2)
    assert.equal((JSON.parse(badBits.stdout) as {error: {code: string}}).error.code, 'RW_ERR_USAGE')
    assert.equal(existsSync(join(env.RESTWIRE_HOME, 'id_ecdsa')), false)
  })
})
