import assert from 'node:assert/strict'
import {chmod, copyFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {before, describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {isEncryptedKey, KEY_PASSPHRASE_ENV, loadPrivateKey} from '../../../src/core/ssh/private-key.js'
import {makeKeyWithSshKeygen, sshKeygen, useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

const PASSPHRASE = 'correct horse battery'

/** The SHA256 fingerprint ssh-keygen prints for a key file. */
async function keygenFingerprint(path: string): Promise<string> {
  return (await sshKeygen('-l', '-f', `${path}.pub`)).split(' ')[1]!
}

function assertKeyFileError(path: string, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'), String(error))
    assert.ok(error.message.includes(path), `message names ${path}: ${error.message}`)
    assert.match(error.message, pattern)
    return true
  }
}

describe('loadPrivateKey', {skip: skipWithout('ssh-keygen')}, () => {
  const tempDir = useTempDir()
  let dir: string
  const keys: Record<string, string> = {}

  before(async () => {
    dir = tempDir()
    const specs: [string, string, {passphrase?: string; extra?: string[]}][] = [
      ['ed25519', 'ed25519', {}],
      ['rsa', 'rsa', {extra: ['-b', '2048']}],
      ['ecdsa', 'ecdsa', {}],
      ['ecdsa521', 'ecdsa', {extra: ['-b', '521']}],
      ['pem-rsa', 'rsa', {extra: ['-b', '2048', '-m', 'PEM']}],
      ['pem-ec', 'ecdsa', {extra: ['-m', 'PEM']}],
      ['enc-ed25519', 'ed25519', {passphrase: PASSPHRASE}],
      ['enc-rsa', 'rsa', {passphrase: PASSPHRASE, extra: ['-b', '2048']}],
      ['enc-pem-ec', 'ecdsa', {passphrase: PASSPHRASE, extra: ['-m', 'PEM']}],
      ['pkcs8', 'rsa', {extra: ['-b', '2048', '-m', 'PKCS8']}],
    ]
    await Promise.all(
      specs.map(async ([name, type, options]) => {
        keys[name] = await makeKeyWithSshKeygen(dir, name, type, options)
      }),
    )
  })

  it('loads unencrypted OpenSSH and PEM keys made by ssh-keygen, with ssh-keygen fingerprints', async () => {
    const expectedTypes: Record<string, string> = {
      ed25519: 'ssh-ed25519',
      rsa: 'ssh-rsa',
      ecdsa: 'ecdsa-sha2-nistp256',
      ecdsa521: 'ecdsa-sha2-nistp521',
      'pem-rsa': 'ssh-rsa',
      'pem-ec': 'ecdsa-sha2-nistp256',
    }
    for (const [name, type] of Object.entries(expectedTypes)) {
      const loaded = await loadPrivateKey(keys[name]!, {env: {}})
      assert.equal(loaded.path, keys[name])
      assert.equal(loaded.type, type, name)
      assert.equal(loaded.passphrase, undefined)
      assert.equal(loaded.fingerprint, await keygenFingerprint(keys[name]!), name)
      assert.ok(loaded.privateKey.toString().includes('PRIVATE KEY'))
    }
  })

  it('decrypts with the passphrase option', async () => {
    for (const name of ['enc-ed25519', 'enc-rsa', 'enc-pem-ec']) {
      const loaded = await loadPrivateKey(keys[name]!, {passphrase: PASSPHRASE, env: {}})
      assert.equal(loaded.passphrase, PASSPHRASE)
      assert.equal(loaded.fingerprint, await keygenFingerprint(keys[name]!), name)
    }
  })

  it(`decrypts with $${KEY_PASSPHRASE_ENV} without asking`, async () => {
    const loaded = await loadPrivateKey(keys['enc-ed25519']!, {
      env: {[KEY_PASSPHRASE_ENV]: PASSPHRASE},
      askPassphrase: () => assert.fail('must not ask when the environment has the passphrase'),
    })
    assert.equal(loaded.type, 'ssh-ed25519')
  })

  it('asks for the passphrase when nothing else gives it, up to three times', async () => {
    const asked: string[] = []
    const answers = ['wrong', 'also wrong', PASSPHRASE]
    const loaded = await loadPrivateKey(keys['enc-ed25519']!, {
      env: {},
      askPassphrase: async (path) => {
        asked.push(path)
        return answers.shift()!
      },
    })
    assert.equal(loaded.passphrase, PASSPHRASE)
    assert.deepEqual(asked, [keys['enc-ed25519'], keys['enc-ed25519'], keys['enc-ed25519']])

    const path = keys['enc-rsa']!
    await assert.rejects(
      loadPrivateKey(path, {env: {}, askPassphrase: async () => 'nope'}),
      assertKeyFileError(path, /Wrong passphrase/),
    )
  })

  it('never asks for an unencrypted key', async () => {
    await loadPrivateKey(keys.ed25519!, {env: {}, askPassphrase: () => assert.fail('asked')})
  })

  it('says an encrypted key needs a passphrase and names the environment variable', async () => {
    const path = keys['enc-ed25519']!
    await assert.rejects(loadPrivateKey(path, {env: {}}), (error: unknown) => {
      assertKeyFileError(path, /encrypted/)(error)
      assert.ok(isRestwireError(error) && error.hint?.includes(KEY_PASSPHRASE_ENV))
      return true
    })
  })

  it('rejects a wrong passphrase from the option or the environment, naming the file', async () => {
    const path = keys['enc-rsa']!
    await assert.rejects(loadPrivateKey(path, {passphrase: 'bad', env: {}}), assertKeyFileError(path, /Wrong passphrase/))
    await assert.rejects(
      loadPrivateKey(path, {env: {[KEY_PASSPHRASE_ENV]: 'bad'}}),
      assertKeyFileError(path, new RegExp(`Wrong passphrase.*\\$${KEY_PASSPHRASE_ENV}`)),
    )
    const pemPath = keys['enc-pem-ec']!
    await assert.rejects(loadPrivateKey(pemPath, {passphrase: 'bad', env: {}}), assertKeyFileError(pemPath, /Wrong passphrase/))
  })

  it('names the file when it is missing, a directory, not a key, a public key or PKCS#8', async () => {
    const missing = join(dir, 'does-not-exist')
    await assert.rejects(loadPrivateKey(missing), assertKeyFileError(missing, /no such file/))
    // Tests run as root, where chmod 000 does not cause EACCES; a directory exercises the same path.
    await assert.rejects(loadPrivateKey(dir), assertKeyFileError(dir, /directory/))

    const junk = join(dir, 'junk')
    await writeFile(junk, 'hello, not a key\n', {mode: 0o600})
    await assert.rejects(loadPrivateKey(junk), assertKeyFileError(junk, /not a private key/))

    const pub = `${keys.ed25519}.pub`
    await assert.rejects(loadPrivateKey(pub), assertKeyFileError(pub, /public key/))
    await assert.rejects(loadPrivateKey(keys.pkcs8!), assertKeyFileError(keys.pkcs8!, /PKCS#8/))
  })

  it('refuses a key file that group or others can read, as ssh does, naming the mode and the chmod', async () => {
    for (const [name, mode] of [['ed25519', 0o644], ['enc-ed25519', 0o640], ['pem-rsa', 0o604]] as const) {
      const open = join(dir, `${name}-open`)
      await copyFile(keys[name]!, open)
      await chmod(open, mode)
      await assert.rejects(
        loadPrivateKey(open, {passphrase: PASSPHRASE}),
        (error: unknown) => {
          assertKeyFileError(open, new RegExp(`Permissions 0${mode.toString(8)} .*too open`))(error)
          assert.equal((error as {hint?: string}).hint, `chmod 600 ${open}`)
          return true
        },
      )
      await chmod(open, 0o600)
      assert.ok((await loadPrivateKey(open, {passphrase: PASSPHRASE})).fingerprint.startsWith('SHA256:'))
      await chmod(open, 0o400)
      assert.ok((await loadPrivateKey(open, {passphrase: PASSPHRASE})).fingerprint.startsWith('SHA256:'))
    }
  })

  it('tells encrypted keys from plain ones by their own markers', () => {
    assert.equal(isEncryptedKey('-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n'), true)
    assert.equal(isEncryptedKey('PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: aes256-cbc\n'), true)
    assert.equal(isEncryptedKey('PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n'), false)
    assert.equal(isEncryptedKey('garbage'), false)
  })
})
