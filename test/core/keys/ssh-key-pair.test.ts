import assert from 'node:assert/strict'
import {mkdir, readFile, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {
  appendAuthorizedKey,
  generateSshKeyPair,
  type SshKeyPairOptions,
  writeSshKeyPair,
} from '../../../src/core/keys/ssh-key-pair.js'
import {parseAuthorizedKeys} from '../../../src/core/ssh/authorized-keys.js'
import {loadPrivateKey} from '../../../src/core/ssh/private-key.js'
import {sshKeygen, useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

describe('generateSshKeyPair + writeSshKeyPair', () => {
  const tempDir = useTempDir()

  const cases: [string, SshKeyPairOptions, RegExp][] = [
    ['ed25519', {type: 'ed25519', comment: 'me@laptop'}, /^256 .* me@laptop \(ED25519\)$/],
    ['rsa', {type: 'rsa', bits: 2048, comment: 'build bot'}, /^2048 .* build bot \(RSA\)$/],
    ['ecdsa', {type: 'ecdsa'}, /^256 .* \(ECDSA\)$/],
    ['ecdsa-521', {type: 'ecdsa', bits: 521}, /^521 .* \(ECDSA\)$/],
    ['ed25519-encrypted', {type: 'ed25519', passphrase: 'secret phrase', comment: 'enc'}, /^256 .* enc \(ED25519\)$/],
  ]

  for (const [name, options, keygenListing] of cases) {
    it(`writes a ${name} key that ssh-keygen reads, with the same fingerprint`, {skip: skipWithout('ssh-keygen')}, async () => {
      const pair = await generateSshKeyPair(options)
      assert.equal(pair.type, options.type)
      assert.match(pair.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/)
      assert.doesNotMatch(pair.publicKey, /\n/)

      const path = join(tempDir(), name, 'id_key')
      const written = await writeSshKeyPair(path, pair)
      assert.deepEqual(written, {privateKeyPath: path, publicKeyPath: `${path}.pub`})
      assert.equal(await mode(path), 0o600)
      assert.equal(await mode(`${path}.pub`), 0o644)
      assert.equal(await mode(join(tempDir(), name)), 0o700)
      assert.equal(await readFile(`${path}.pub`, 'utf8'), pair.publicKey + '\n')

      const listing = (await sshKeygen('-l', '-f', path)).trim()
      assert.match(listing, keygenListing)
      assert.equal(listing.split(' ')[1], pair.fingerprint)

      // -y derives the public key from the private key file alone (decrypting with -P).
      const derived = await sshKeygen('-y', '-P', options.passphrase ?? '', '-f', path)
      assert.equal(derived.trim().split(' ').slice(0, 2).join(' '), pair.publicKey.split(' ').slice(0, 2).join(' '))

      const loaded = await loadPrivateKey(path, {passphrase: options.passphrase, env: {}})
      assert.equal(loaded.fingerprint, pair.fingerprint)
    })
  }

  it('writes the public key without a trailing space when there is no comment', async () => {
    const pair = await generateSshKeyPair({type: 'ed25519'})
    assert.match(pair.publicKey, /^ssh-ed25519 [A-Za-z0-9+/=]+$/)
  })

  it('never hands out an unreadable ed25519 key (ssh2 drops leading zero bytes of about 1 in 256)', async () => {
    const {utils} = (await import('ssh2')).default
    for (let n = 0; n < 512; n++) {
      const pair = await generateSshKeyPair({type: 'ed25519'})
      const parsed = utils.parseKey(pair.privateKey)
      assert.ok(!(parsed instanceof Error), `key ${n} does not parse: ${String(parsed)}`)
      assert.equal(parsed.getPublicSSH().toString('base64'), pair.publicKey.split(' ')[1])
    }
  })

  it('defaults RSA to 3072 bits', {skip: skipWithout('ssh-keygen')}, async () => {
    const pair = await generateSshKeyPair({type: 'rsa'})
    const path = join(tempDir(), 'rsa-default', 'id_rsa')
    await writeSshKeyPair(path, pair)
    assert.match(await sshKeygen('-l', '-f', path), /^3072 /)
  })

  it('rejects sizes that do not fit the type', async () => {
    const bad: SshKeyPairOptions[] = [
      {type: 'rsa', bits: 512},
      {type: 'rsa', bits: 20_000},
      {type: 'rsa', bits: 2048.5},
      {type: 'ecdsa', bits: 300},
      {type: 'ed25519', bits: 4096},
      {type: 'dsa' as 'rsa'},
      {type: 'ed25519', comment: 'two\nlines'},
    ]
    for (const options of bad) {
      await assert.rejects(generateSshKeyPair(options), (error: unknown) => isRestwireError(error, 'RW_ERR_USAGE'))
    }
  })

  it('refuses to overwrite either file unless forced', async () => {
    const dir = join(tempDir(), 'overwrite')
    const pair = await generateSshKeyPair({type: 'ed25519', comment: 'first'})
    const path = join(dir, 'id_ed25519')
    await writeSshKeyPair(path, pair)

    const second = await generateSshKeyPair({type: 'ed25519', comment: 'second'})
    await assert.rejects(writeSshKeyPair(path, second), (error: unknown) => {
      assert.ok(isRestwireError(error, 'RW_ERR_FILE_EXISTS'))
      assert.ok(error.message.includes(path))
      return true
    })
    assert.equal(await readFile(path, 'utf8'), pair.privateKey, 'the first key is untouched')

    const orphanPub = join(dir, 'only_pub')
    await writeFile(`${orphanPub}.pub`, 'old\n')
    await assert.rejects(writeSshKeyPair(orphanPub, second), (error: unknown) => {
      assert.ok(isRestwireError(error, 'RW_ERR_FILE_EXISTS'))
      assert.ok(error.message.includes(`${orphanPub}.pub`))
      return true
    })

    await writeSshKeyPair(path, second, {force: true})
    assert.equal(await readFile(path, 'utf8'), second.privateKey)
    assert.equal(await readFile(`${path}.pub`, 'utf8'), second.publicKey + '\n')
    assert.equal(await mode(path), 0o600)
  })

  it('names the path when it cannot write', async () => {
    const blocker = join(tempDir(), 'a-file')
    await writeFile(blocker, '')
    const path = join(blocker, 'id_ed25519')
    const pair = await generateSshKeyPair({type: 'ed25519'})
    await assert.rejects(writeSshKeyPair(path, pair), (error: unknown) => {
      assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'))
      assert.ok(error.message.includes(path))
      return true
    })
  })
})

describe('appendAuthorizedKey', () => {
  const tempDir = useTempDir()

  it('creates the file 0600 and adds each key blob once', async () => {
    const file = join(tempDir(), 'ssh', 'authorized_keys')
    const first = await generateSshKeyPair({type: 'ed25519', comment: 'first'})
    const second = await generateSshKeyPair({type: 'ecdsa', comment: 'second'})

    assert.deepEqual(await appendAuthorizedKey(file, first.publicKey), {added: true, created: true})
    assert.equal(await mode(file), 0o600)
    assert.equal(await mode(join(tempDir(), 'ssh')), 0o700)
    assert.deepEqual(await appendAuthorizedKey(file, second.publicKey + '\n'), {added: true, created: false})
    const sameBlobOtherComment = first.publicKey.replace('first', 'renamed')
    assert.deepEqual(await appendAuthorizedKey(file, sameBlobOtherComment), {added: false, created: false})

    const {keys} = parseAuthorizedKeys(await readFile(file, 'utf8'))
    assert.deepEqual(keys.map((key) => key.comment), ['first', 'second'])
  })

  it('appends on a new line when the file lacks a final newline, and sees keys behind options', async () => {
    const file = join(tempDir(), 'no_newline')
    const first = await generateSshKeyPair({type: 'ed25519', comment: 'first'})
    const second = await generateSshKeyPair({type: 'ed25519', comment: 'second'})
    await writeFile(file, `no-pty ${first.publicKey}`)
    assert.deepEqual(await appendAuthorizedKey(file, first.publicKey), {added: false, created: false})
    assert.deepEqual(await appendAuthorizedKey(file, second.publicKey), {added: true, created: false})
    assert.equal(await readFile(file, 'utf8'), `no-pty ${first.publicKey}\n${second.publicKey}\n`)
  })

  it('adds a key once when many callers race', async () => {
    const file = join(tempDir(), 'raced')
    const pair = await generateSshKeyPair({type: 'ed25519'})
    const results = await Promise.all(Array.from({length: 8}, () => appendAuthorizedKey(file, pair.publicKey)))
    assert.equal(results.filter((result) => result.added).length, 1)
    assert.equal(parseAuthorizedKeys(await readFile(file, 'utf8')).keys.length, 1)
  })

  it('refuses text that is not one public key line', async () => {
    await assert.rejects(appendAuthorizedKey(join(tempDir(), 'x'), 'not a key'), (error: unknown) =>
      isRestwireError(error, 'RW_ERR_USAGE'),
    )
  })

  it('names the file when it cannot be written', async () => {
    const dir = join(tempDir(), 'is-a-directory')
    await mkdir(dir)
    const pair = await generateSshKeyPair({type: 'ed25519'})
    await assert.rejects(appendAuthorizedKey(dir, pair.publicKey), (error: unknown) => {
      assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'))
      assert.ok(error.message.includes(dir))
      return true
    })
  })
})
