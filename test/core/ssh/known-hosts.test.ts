import assert from 'node:assert/strict'
import {mkdir, readFile, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {before, describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {hostKeyError, KnownHosts, knownHostsName} from '../../../src/core/ssh/known-hosts.js'
import {makeKeyWithSshKeygen, sshKeygen, useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

interface TestKey {
  line: string
  type: string
  base64: string
  blob: Buffer
}

async function readPub(path: string): Promise<TestKey> {
  const line = (await readFile(`${path}.pub`, 'utf8')).trim()
  const [type = '', base64 = ''] = line.split(' ')
  return {line, type, base64, blob: Buffer.from(base64, 'base64')}
}

describe('KnownHosts', {skip: skipWithout('ssh-keygen')}, () => {
  const tempDir = useTempDir()
  let dir: string
  let ed: TestKey
  let ed2: TestKey
  let rsa: TestKey

  before(async () => {
    dir = tempDir()
    ;[ed, ed2, rsa] = await Promise.all([
      makeKeyWithSshKeygen(dir, 'ed', 'ed25519').then(readPub),
      makeKeyWithSshKeygen(dir, 'ed2', 'ed25519').then(readPub),
      makeKeyWithSshKeygen(dir, 'rsa', 'rsa', {extra: ['-b', '2048']}).then(readPub),
    ])
  })

  async function knownHosts(name: string, lines: string[]): Promise<KnownHosts> {
    const path = join(dir, name)
    await writeFile(path, lines.join('\n') + '\n')
    return KnownHosts.load(path)
  }

  it('writes port 22 as the plain host and other ports as [host]:port', () => {
    assert.equal(knownHostsName('Example.COM', 22), 'example.com')
    assert.equal(knownHostsName('127.0.0.1', 8022), '[127.0.0.1]:8022')
  })

  it('treats a missing file as empty: every host is unknown', async () => {
    const hosts = await KnownHosts.load(join(dir, 'no', 'such', 'known_hosts'))
    assert.equal(hosts.check('example.com', 22, ed.type, ed.blob), 'unknown')
  })

  it('matches plain and [host]:port entries, comma lists, case-insensitively', async () => {
    const hosts = await knownHosts('plain', [
      '# a comment',
      `alpha.example.com,10.0.0.1 ${ed.type} ${ed.base64}`,
      `[127.0.0.1]:8022 ${rsa.type} ${rsa.base64} some comment`,
    ])
    assert.deepEqual(hosts.errors, [])
    assert.equal(hosts.check('ALPHA.example.com', 22, ed.type, ed.blob), 'match')
    assert.equal(hosts.check('10.0.0.1', 22, ed.type, ed.blob), 'match')
    assert.equal(hosts.check('10.0.0.1', 2222, ed.type, ed.blob), 'unknown', 'port 22 entries do not cover other ports')
    assert.equal(hosts.check('127.0.0.1', 8022, 'rsa-sha2-512', rsa.blob), 'match')
    assert.equal(hosts.check('127.0.0.1', 22, rsa.type, rsa.blob), 'unknown')
  })

  it('reports a different key of the same type, or only keys of other types, as changed', async () => {
    const hosts = await knownHosts('changed', [`alpha ${ed.type} ${ed.base64}`])
    assert.equal(hosts.check('alpha', 22, ed2.type, ed2.blob), 'changed')
    assert.equal(hosts.check('alpha', 22, rsa.type, rsa.blob), 'changed')
  })

  it('accepts any of several keys recorded for one host', async () => {
    const hosts = await knownHosts('several', [`alpha ${ed.type} ${ed.base64}`, `alpha ${rsa.type} ${rsa.base64}`])
    assert.equal(hosts.check('alpha', 22, rsa.type, rsa.blob), 'match')
    assert.equal(hosts.check('alpha', 22, ed.type, ed.blob), 'match')
  })

  it('supports * and ? wildcards and ! negation', async () => {
    const hosts = await knownHosts('wildcards', [
      `*.example.com,!secret.example.com ${ed.type} ${ed.base64}`,
      `[10.0.0.?]:* ${rsa.type} ${rsa.base64}`,
    ])
    assert.equal(hosts.check('a.example.com', 22, ed.type, ed.blob), 'match')
    assert.equal(hosts.check('deep.a.example.com', 22, ed.type, ed.blob), 'match')
    assert.equal(hosts.check('secret.example.com', 22, ed.type, ed.blob), 'unknown')
    assert.equal(hosts.check('example.com', 22, ed.type, ed.blob), 'unknown')
    assert.equal(hosts.check('10.0.0.7', 9000, rsa.type, rsa.blob), 'match')
    assert.equal(hosts.check('10.0.0.17', 9000, rsa.type, rsa.blob), 'unknown')
  })

  it('reads entries hashed by ssh-keygen -H', async () => {
    const path = join(dir, 'hashed')
    await writeFile(path, `alpha.example.com,10.0.0.1 ${ed.type} ${ed.base64}\n[127.0.0.1]:8022 ${rsa.type} ${rsa.base64}\n`)
    await sshKeygen('-H', '-f', path)
    const text = await readFile(path, 'utf8')
    assert.doesNotMatch(text, /alpha|127\.0\.0\.1/, 'ssh-keygen hashed every name')
    assert.equal(text.match(/^\|1\|/gm)?.length, 3)

    const hosts = await KnownHosts.load(path)
    assert.deepEqual(hosts.errors, [])
    assert.equal(hosts.check('alpha.example.com', 22, ed.type, ed.blob), 'match')
    assert.equal(hosts.check('10.0.0.1', 22, ed.type, ed.blob), 'match')
    assert.equal(hosts.check('127.0.0.1', 8022, rsa.type, rsa.blob), 'match')
    assert.equal(hosts.check('127.0.0.1', 8022, ed2.type, ed2.blob), 'changed')
    assert.equal(hosts.check('beta.example.com', 22, ed.type, ed.blob), 'unknown')
  })

  it('reports keys marked @revoked and ignores @cert-authority lines', async () => {
    const hosts = await knownHosts('markers', [
      `@revoked * ${ed2.type} ${ed2.base64}`,
      `alpha ${ed.type} ${ed.base64}`,
      `@cert-authority beta ${rsa.type} ${rsa.base64}`,
      `@bogus gamma ${rsa.type} ${rsa.base64}`,
    ])
    assert.equal(hosts.check('alpha', 22, ed2.type, ed2.blob), 'revoked')
    assert.equal(hosts.check('anywhere', 22, ed2.type, ed2.blob), 'revoked')
    assert.equal(hosts.check('alpha', 22, ed.type, ed.blob), 'match')
    assert.equal(hosts.check('beta', 22, rsa.type, rsa.blob), 'unknown')
    assert.deepEqual(hosts.errors.map((error) => error.line), [4])
  })

  it('skips malformed lines and lines whose type does not match the key', async () => {
    const hosts = await knownHosts('malformed', [
      'just-a-host',
      `alpha ${rsa.type} ${ed.base64}`,
      `beta ${ed.type} ${ed.base64}`,
    ])
    assert.deepEqual(hosts.errors.map((error) => error.line), [1, 2])
    assert.equal(hosts.check('alpha', 22, ed.type, ed.blob), 'unknown')
    assert.equal(hosts.check('beta', 22, ed.type, ed.blob), 'match')
  })

  it('adds plain lines that OpenSSH finds, creating the file 0600 in a 0700 directory', async () => {
    const path = join(dir, 'fresh', 'sub', 'known_hosts')
    const hosts = await KnownHosts.load(path)
    await hosts.add('127.0.0.1', 8022, ed.type, ed.blob)
    await hosts.add('Example.com', 22, 'rsa-sha2-256', rsa.blob)
    assert.equal(hosts.check('127.0.0.1', 8022, ed.type, ed.blob), 'match', 'visible without reloading')

    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'fresh', 'sub'))).mode & 0o777, 0o700)
    assert.equal(
      await readFile(path, 'utf8'),
      `[127.0.0.1]:8022 ${ed.type} ${ed.base64}\nexample.com ssh-rsa ${rsa.base64}\n`,
    )
    const found = await sshKeygen('-F', '[127.0.0.1]:8022', '-f', path)
    assert.match(found, new RegExp(ed.base64.replaceAll('+', '\\+')))

    const reloaded = await KnownHosts.load(path)
    assert.equal(reloaded.check('127.0.0.1', 8022, ed.type, ed.blob), 'match')
    assert.equal(reloaded.check('example.com', 22, rsa.type, rsa.blob), 'match')
  })

  it('adds on a new line when the file does not end with one', async () => {
    const path = join(dir, 'no_newline')
    await writeFile(path, `alpha ${ed.type} ${ed.base64}`)
    const hosts = await KnownHosts.load(path)
    await hosts.add('beta', 22, rsa.type, rsa.blob)
    const reloaded = await KnownHosts.load(path)
    assert.equal(reloaded.check('alpha', 22, ed.type, ed.blob), 'match')
    assert.equal(reloaded.check('beta', 22, rsa.type, rsa.blob), 'match')
  })

  it('names the file when it cannot be read', async () => {
    const path = join(dir, 'a_directory')
    await mkdir(path)
    await assert.rejects(KnownHosts.load(path), (error: unknown) => {
      assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'))
      assert.ok(error.message.includes(path))
      return true
    })
  })
})

describe('hostKeyError', () => {
  const info = {
    host: '127.0.0.1',
    port: 8022,
    keyType: 'ssh-ed25519',
    fingerprint: 'SHA256:abc',
    knownHostsPath: '/home/me/.config/restwire/known_hosts',
  }

  it('words an unknown host like ssh and hints at the command that trusts it', () => {
    const error = hostKeyError('unknown', info)
    assert.equal(error.code, 'RW_ERR_HOST_KEY_UNKNOWN')
    assert.match(error.message, /^The authenticity of host '\[127\.0\.0\.1\]:8022' can't be established\. ED25519 key fingerprint is SHA256:abc\./)
    assert.equal(error.hint?.endsWith('ssh-keyscan -p 8022 127.0.0.1 >> /home/me/.config/restwire/known_hosts'), true)
    assert.deepEqual(error.details, {
      host: '127.0.0.1',
      port: 8022,
      keyType: 'ssh-ed25519',
      fingerprint: 'SHA256:abc',
      knownHosts: info.knownHostsPath,
    })
    assert.match(hostKeyError('unknown', {...info, trustCommand: 'restwire korv trust'}).hint ?? '', /restwire korv trust$/)
  })

  it('refuses changed and revoked keys loudly, naming the file', () => {
    for (const status of ['changed', 'revoked'] as const) {
      const error = hostKeyError(status, {...info, port: 22, keyType: 'rsa-sha2-512'})
      assert.equal(error.code, 'RW_ERR_HOST_KEY_CHANGED')
      assert.ok(error.message.includes(info.knownHostsPath))
      assert.match(error.message, /will not connect/)
      assert.match(error.message, /RSA key/)
      assert.match(error.message, status === 'changed' ? /HAS CHANGED/ : /REVOKED/)
      assert.equal(error.details?.fingerprint, 'SHA256:abc')
    }
  })
})
