import assert from 'node:assert/strict'
import {readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {before, describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {AuthorizedKeysFile, parseAuthorizedKeys} from '../../../src/core/ssh/authorized-keys.js'
import {makeKeyWithSshKeygen, sshKeygen, useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

/** An SSH wire-format blob: each field a uint32 length + bytes. */
function sshBlob(...fields: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    fields.flatMap((field) => {
      const bytes = typeof field === 'string' ? Buffer.from(field) : field
      const length = Buffer.alloc(4)
      length.writeUInt32BE(bytes.length)
      return [length, bytes]
    }),
  )
}

describe('parseAuthorizedKeys', {skip: skipWithout('ssh-keygen')}, () => {
  const tempDir = useTempDir()
  let dir: string
  const pub: Record<string, string> = {}

  before(async () => {
    dir = tempDir()
    const types: [string, string, string[]][] = [
      ['ed25519', 'ed25519', []],
      ['rsa', 'rsa', ['-b', '2048']],
      ['ecdsa256', 'ecdsa', ['-b', '256']],
      ['ecdsa384', 'ecdsa', ['-b', '384']],
      ['ecdsa521', 'ecdsa', ['-b', '521']],
      ['dsa', 'dsa', []],
    ]
    await Promise.all(
      types.map(async ([name, type, extra]) => {
        const path = await makeKeyWithSshKeygen(dir, name, type, {extra})
        pub[name] = (await readFile(`${path}.pub`, 'utf8')).trim()
      }),
    )
    await sshKeygen('-q', '-s', join(dir, 'ed25519'), '-I', 'test-cert', '-n', 'root', join(dir, 'rsa.pub'))
    pub.cert = (await readFile(join(dir, 'rsa-cert.pub'), 'utf8')).trim()
  })

  it('reads keys of every type ssh-keygen writes, with fingerprints equal to ssh-keygen -l', async () => {
    for (const name of ['ed25519', 'rsa', 'ecdsa256', 'ecdsa384', 'ecdsa521', 'dsa', 'cert']) {
      const {keys, errors} = parseAuthorizedKeys(pub[name]! + '\n')
      assert.deepEqual(errors, [], name)
      assert.equal(keys.length, 1, name)
      const [type, base64, comment] = pub[name]!.split(' ')
      assert.equal(keys[0]!.type, type)
      assert.equal(keys[0]!.blob.toString('base64'), base64)
      assert.equal(keys[0]!.comment, comment)
      if (name !== 'cert') {
        const expected = (await sshKeygen('-l', '-f', join(dir, `${name}.pub`))).split(' ')[1]
        assert.equal(keys[0]!.fingerprint, expected, name)
      }
    }

    assert.equal(parseAuthorizedKeys(pub.cert!).keys[0]!.type, 'ssh-rsa-cert-v01@openssh.com')
  })

  it('reads security-key (sk-*) types', () => {
    const edSk = sshBlob('sk-ssh-ed25519@openssh.com', Buffer.alloc(32, 7), 'ssh:')
    const ecSk = sshBlob('sk-ecdsa-sha2-nistp256@openssh.com', 'nistp256', Buffer.alloc(65, 4), 'ssh:')
    const text = `sk-ssh-ed25519@openssh.com ${edSk.toString('base64')} yubikey\n` +
      `no-touch-required sk-ecdsa-sha2-nistp256@openssh.com ${ecSk.toString('base64')}\n`
    const {keys, errors} = parseAuthorizedKeys(text)
    assert.deepEqual(errors, [])
    assert.deepEqual(keys.map((key) => [key.type, key.comment, key.options]), [
      ['sk-ssh-ed25519@openssh.com', 'yubikey', []],
      ['sk-ecdsa-sha2-nistp256@openssh.com', '', ['no-touch-required']],
    ])
  })

  it('skips blank lines and comments and numbers lines from 1', () => {
    const text = `# keys for the build farm\n\n   \n\t# indented comment\n${pub.ed25519}\r\n\n${pub.rsa}`
    const {keys, errors} = parseAuthorizedKeys(text)
    assert.deepEqual(errors, [])
    assert.deepEqual(keys.map((key) => key.line), [5, 7])
    assert.equal(keys[0]!.comment, 'ed25519@test')
  })

  it('splits options on top-level commas; quoted values keep spaces, commas and escaped quotes', () => {
    const [, base64] = pub.ed25519!.split(' ')
    const line = `command="echo \\"a b\\", done",no-pty,from="10.0.0.0/8,192.168.*" ssh-ed25519 ${base64} my laptop key`
    const {keys, errors} = parseAuthorizedKeys(line)
    assert.deepEqual(errors, [])
    assert.deepEqual(keys[0]!.options, ['command="echo \\"a b\\", done"', 'no-pty', 'from="10.0.0.0/8,192.168.*"'])
    assert.equal(keys[0]!.type, 'ssh-ed25519')
    assert.equal(keys[0]!.comment, 'my laptop key')
  })

  it('reports bad lines with their line number and keeps the good ones', () => {
    const [, edBase64] = pub.ed25519!.split(' ')
    const [, rsaBase64] = pub.rsa!.split(' ')
    const lines = [
      `ssh-rsa ${edBase64} type in the line does not match the blob`,
      `ssh-ed25519 not*base64`,
      `ssh-foo ${edBase64}`,
      `command="unterminated ssh-ed25519 ${edBase64}`,
      `no-such-option ssh-ed25519 ${edBase64}`,
      'ssh-ed25519',
      `restrict ssh-rsa ${rsaBase64}`,
    ]
    const {keys, errors} = parseAuthorizedKeys(lines.join('\n'))
    assert.deepEqual(keys.map((key) => [key.line, key.type, key.options]), [[7, 'ssh-rsa', ['restrict']]])
    assert.deepEqual(errors.map((error) => error.line), [1, 2, 3, 4, 5, 6])
    assert.match(errors[0]!.message, /says ssh-rsa but the key data is ssh-ed25519/)
    assert.match(errors[2]!.message, /unknown key type "ssh-foo"/)
    assert.match(errors[3]!.message, /unterminated/)
    assert.match(errors[4]!.message, /unknown option "no-such-option"/)
  })
})

describe('AuthorizedKeysFile', {skip: skipWithout('ssh-keygen')}, () => {
  const tempDir = useTempDir()
  let dir: string
  let edLine: string
  let rsaLine: string

  before(async () => {
    dir = tempDir()
    edLine = (await readFile(`${await makeKeyWithSshKeygen(dir, 'ed', 'ed25519')}.pub`, 'utf8')).trim()
    rsaLine = (await readFile(`${await makeKeyWithSshKeygen(dir, 'rsa', 'rsa', {extra: ['-b', '2048']})}.pub`, 'utf8')).trim()
  })

  const blobOf = (line: string): Buffer => Buffer.from(line.split(' ')[1]!, 'base64')

  it('refuses a missing file with an error naming it', async () => {
    const path = join(dir, 'missing_authorized_keys')
    await assert.rejects(AuthorizedKeysFile.open(path), (error: unknown) => {
      assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'))
      assert.ok(error.message.includes(path))
      return true
    })
  })

  it('refuses a directory with an error naming it', async () => {
    await assert.rejects(AuthorizedKeysFile.open(dir), (error: unknown) => {
      assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'))
      assert.ok(error.message.includes(dir))
      return true
    })
  })

  it('finds authorized keys by type and blob, accepting rsa-sha2-* as ssh-rsa', async () => {
    const path = join(dir, 'find_keys')
    await writeFile(path, `${edLine}\nno-pty ${rsaLine}\n`)
    const keys = await AuthorizedKeysFile.open(path)
    assert.equal(keys.path, path)
    assert.equal(keys.find('ssh-ed25519', blobOf(edLine))?.line, 1)
    assert.deepEqual(keys.find('rsa-sha2-512', blobOf(rsaLine))?.options, ['no-pty'])
    assert.equal(keys.find('ssh-rsa', blobOf(edLine)), undefined)
    keys.close()
    assert.equal(keys.find('ssh-ed25519', blobOf(edLine)), undefined, 'a closed file authorizes nobody')
  })

  it('never matches a cert-authority entry as a plain key', async () => {
    const path = join(dir, 'ca_keys')
    await writeFile(path, `cert-authority ${edLine}\n`)
    const keys = await AuthorizedKeysFile.open(path)
    assert.equal(keys.find('ssh-ed25519', blobOf(edLine)), undefined)
  })

  it('picks up keys added, removed and files replaced while open', async () => {
    const path = join(dir, 'changing_keys')
    await writeFile(path, `${edLine}\n`)
    const keys = await AuthorizedKeysFile.open(path, {recheckMs: 0})
    assert.ok(keys.find('ssh-ed25519', blobOf(edLine)))
    assert.equal(keys.find('ssh-rsa', blobOf(rsaLine)), undefined)

    await writeFile(path, `${edLine}\n${rsaLine}\n`)
    assert.ok(keys.find('ssh-rsa', blobOf(rsaLine)), 'appended key is seen')

    // Same size, different content: an editor swapping in a new file.
    const replacement = join(dir, 'changing_keys.new')
    await writeFile(replacement, `#${edLine.slice(1)}\n${rsaLine}\n`)
    await rename(replacement, path)
    assert.equal(keys.find('ssh-ed25519', blobOf(edLine)), undefined, 'commented-out key is gone')
    assert.ok(keys.find('ssh-rsa', blobOf(rsaLine)))

    await rm(path)
    assert.equal(keys.find('ssh-rsa', blobOf(rsaLine)), undefined, 'a deleted file authorizes nobody')
    await writeFile(path, `${edLine}\n`)
    assert.ok(keys.find('ssh-ed25519', blobOf(edLine)), 'a recreated file is read again')
  })
})
