import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import ssh2 from 'ssh2'
import type {AuthContext} from 'ssh2'
import {AuthorizedKeysFile} from '../../../src/core/ssh/authorized-keys.js'
import {checkPublicKeyAuth} from '../../../src/core/ssh/server-auth.js'
import {makeKeyWithSshKeygen, useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout, tool} from '../../helpers/tools.js'

const {utils} = ssh2

function publicKeyContext(privateKeyPem: Buffer, options: {sign?: boolean; algo?: string; hashAlgo?: string} = {}) {
  const key = utils.parseKey(privateKeyPem)
  if (key instanceof Error) throw key
  const blob = Buffer.from('session id + userauth request')
  const ctx = {
    method: 'publickey',
    username: 'anyone',
    key: {algo: options.algo ?? key.type, data: key.getPublicSSH()},
    hashAlgo: options.hashAlgo,
  } as Record<string, unknown>
  if (options.sign) {
    ctx.blob = blob
    ctx.signature = key.sign(blob, options.hashAlgo)
  }

  return ctx as unknown as AuthContext
}

describe('checkPublicKeyAuth', {skip: skipWithout('ssh-keygen')}, () => {
  const tempDir = useTempDir()
  let dir: string
  let keys: AuthorizedKeysFile
  const privateKeys: Record<string, Buffer> = {}

  before(async () => {
    dir = tempDir()
    const names: [string, string, string[]][] = [
      ['ed', 'ed25519', []],
      ['rsa', 'rsa', ['-b', '2048']],
      ['ecdsa', 'ecdsa', []],
      ['stranger', 'ed25519', []],
    ]
    await Promise.all(
      names.map(async ([name, type, extra]) => {
        privateKeys[name] = await readFile(await makeKeyWithSshKeygen(dir, name, type, {extra}))
      }),
    )
    const lines = await Promise.all(['ed', 'rsa', 'ecdsa'].map((name) => readFile(join(dir, `${name}.pub`), 'utf8')))
    await writeFile(join(dir, 'authorized_keys'), lines.join(''))
    keys = await AuthorizedKeysFile.open(join(dir, 'authorized_keys'))
  })

  it('accepts an authorized key in the query phase (no signature)', () => {
    const result = checkPublicKeyAuth(publicKeyContext(privateKeys.ed!), keys)
    assert.equal(result.ok, true)
    assert.equal(result.ok && result.key.comment, 'ed@test')
  })

  it('accepts valid signatures from ed25519, RSA (rsa-sha2-512 and ssh-rsa) and ECDSA keys', () => {
    const contexts = [
      publicKeyContext(privateKeys.ed!, {sign: true}),
      publicKeyContext(privateKeys.rsa!, {sign: true, hashAlgo: 'sha512'}),
      publicKeyContext(privateKeys.rsa!, {sign: true}),
      publicKeyContext(privateKeys.ecdsa!, {sign: true}),
    ]
    for (const ctx of contexts) assert.deepEqual(checkPublicKeyAuth(ctx, keys).ok, true)
  })

  it('refuses a key that is not in the file, naming the file', () => {
    const result = checkPublicKeyAuth(publicKeyContext(privateKeys.stranger!, {sign: true}), keys)
    assert.equal(result.ok, false)
    assert.match(!result.ok ? result.reason : '', /SHA256:.* is not in .*authorized_keys/)
  })

  it('refuses a bad signature', () => {
    const ctx = publicKeyContext(privateKeys.ed!, {sign: true}) as unknown as {signature: Buffer}
    ctx.signature = Buffer.from(ctx.signature).fill(1, 0, 8)
    const result = checkPublicKeyAuth(ctx as unknown as AuthContext, keys)
    assert.equal(result.ok, false)
    assert.match(!result.ok ? result.reason : '', /signature/)
  })

  it('refuses a key whose claimed algorithm does not match its data', () => {
    const result = checkPublicKeyAuth(publicKeyContext(privateKeys.ed!, {algo: 'ssh-rsa'}), keys)
    assert.equal(result.ok, false)
  })

  it('refuses every other method', () => {
    for (const method of ['password', 'none', 'keyboard-interactive', 'hostbased']) {
      const result = checkPublicKeyAuth({method, username: 'x'} as unknown as AuthContext, keys)
      assert.equal(result.ok, false)
      assert.match(!result.ok ? result.reason : '', new RegExp(method))
    }
  })
})

describe('checkPublicKeyAuth with real SSH clients', {skip: skipWithout('ssh', 'ssh-keygen')}, () => {
  const tempDir = useTempDir()
  let dir: string
  let server: ssh2.Server
  let port: number

  before(async () => {
    dir = tempDir()
    const [hostKey] = await Promise.all([
      makeKeyWithSshKeygen(dir, 'host', 'ed25519'),
      makeKeyWithSshKeygen(dir, 'client', 'ed25519'),
      makeKeyWithSshKeygen(dir, 'client-rsa', 'rsa', {extra: ['-b', '2048']}),
      makeKeyWithSshKeygen(dir, 'stranger', 'ed25519'),
    ])
    const authorized = await Promise.all(['client', 'client-rsa'].map((name) => readFile(join(dir, `${name}.pub`), 'utf8')))
    await writeFile(join(dir, 'authorized_keys'), authorized.join(''))
    const keys = await AuthorizedKeysFile.open(join(dir, 'authorized_keys'))

    server = new ssh2.Server({hostKeys: [await readFile(hostKey)]}, (client) => {
      client.on('authentication', (ctx) => {
        const result = checkPublicKeyAuth(ctx, keys)
        if (result.ok) ctx.accept()
        else ctx.reject(['publickey'])
      })
      client.on('ready', () => {
        client.on('session', (accept) => {
          accept().once('exec', (acceptExec) => {
            const stream = acceptExec()
            stream.exit(0)
            stream.end()
          })
        })
      })
      client.on('error', () => {})
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })

  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  function runOpenSsh(identity: string): Promise<{code: number; stderr: string}> {
    const args = [
      '-F', '/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'IdentitiesOnly=yes',
      '-o', 'ConnectTimeout=20',
      '-i', join(dir, identity),
      '-p', String(port),
      'anyone@127.0.0.1',
      'true',
    ]
    return new Promise((resolve) => {
      execFile(tool('ssh'), args, {timeout: 30_000}, (error, _stdout, stderr) => {
        resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stderr})
      })
    })
  }

  it('lets the OpenSSH client in with an authorized ed25519 or RSA key', async () => {
    assert.deepEqual((await runOpenSsh('client')).code, 0)
    assert.deepEqual((await runOpenSsh('client-rsa')).code, 0)
  })

  it('keeps the OpenSSH client out with an unknown key', async () => {
    const result = await runOpenSsh('stranger')
    assert.equal(result.code, 255)
    assert.match(result.stderr, /Permission denied/)
  })

  it('lets the ssh2 client in with an authorized RSA key', async () => {
    const privateKey = await readFile(join(dir, 'client-rsa'))
    const client = new ssh2.Client()
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject)
      client.connect({
        host: '127.0.0.1',
        port,
        username: 'anyone',
        privateKey,
        readyTimeout: 20_000,
      })
    })
    client.end()
  })
})
