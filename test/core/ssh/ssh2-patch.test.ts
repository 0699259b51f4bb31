// What the ssh2 patch (patches/ssh2+1.17.0.patch) changes in ssh2's behaviour. Its key objects
// (keyParser.js and kex.js): ssh2 signs and verifies with a KeyObject made once per key, Ed25519 keys made from their raw bytes, and the x25519
// exchange keys go in and out as raw bytes. Signatures must be what the key's own PEM gives, for every
// key type ssh-keygen makes; and an Ed25519 + X25519 connection must set up no PEM or DER codec. A
// malformed X25519 key from a peer: test/adversarial/korv.test.ts (a key exchange by hand). Its
// authentication with the service request (client.js), toward restwire servers only: below.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {type KeyObject, createPrivateKey, createPublicKey, verify} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import type {AddressInfo} from 'node:net'
import {promisify} from 'node:util'
import {before, describe, it} from 'node:test'
import ssh2 from 'ssh2'
import {RESTWIRE_IDENT} from '../../../src/core/korv/defaults.js'
import {root} from '../../helpers/cli.js'
import {makeKeyWithSshKeygen, useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

const PASSPHRASE = 'correct horse battery'
const DATA = Buffer.from('the exchange hash of some session')

describe('ssh2 signs and verifies with cached key objects', {skip: skipWithout('ssh-keygen')}, () => {
  const tempDir = useTempDir()
  const keys: Record<string, string> = {}

  before(async () => {
    const specs: [string, string, {passphrase?: string; extra?: string[]}][] = [
      ['ed25519', 'ed25519', {}],
      ['enc-ed25519', 'ed25519', {passphrase: PASSPHRASE}],
      ['rsa', 'rsa', {extra: ['-b', '2048']}],
      ['ecdsa', 'ecdsa', {}],
      ['ecdsa521', 'ecdsa', {extra: ['-b', '521']}],
      ['pem-rsa', 'rsa', {extra: ['-b', '2048', '-m', 'PEM']}],
    ]
    await Promise.all(specs.map(async ([name, type, options]) => (keys[name] = await makeKeyWithSshKeygen(tempDir(), name, type, options))))
  })

  for (const name of ['ed25519', 'enc-ed25519', 'rsa', 'ecdsa', 'ecdsa521', 'pem-rsa']) {
    it(`${name}: a signature verifies against the key's own PEM, the .pub file's key, and fails when tampered`, async () => {
      const key = ssh2.utils.parseKey(await readFile(keys[name]!), name.startsWith('enc-') ? PASSPHRASE : undefined)
      const pub = ssh2.utils.parseKey(await readFile(`${keys[name]!}.pub`))
      assert.ok(!(key instanceof Error) && !(pub instanceof Error))
      for (let round = 0; round < 2; round++) {
        // The second round uses the key objects the first one made.
        const signature = key.sign(DATA)
        assert.ok(Buffer.isBuffer(signature), String(signature))
        const algorithm = key.type === 'ssh-ed25519' ? null : ({ecdsa: 'sha256', ecdsa521: 'sha512'}[name] ?? 'sha1')
        assert.ok(verify(algorithm, DATA, createPublicKey(key.getPublicPEM()), signature), 'verified by the PEM')
        assert.equal(key.verify(DATA, signature), true)
        assert.equal(pub.verify(DATA, signature), true)
        assert.equal(pub.verify(Buffer.from('another exchange hash'), signature), false)
      }

      // The private key object is the key of the PEM, whichever way it was made.
      const made = Object.getOwnPropertySymbols(key).find((symbol) => symbol.description === 'Private KeyObject')
      assert.ok(made, 'the key keeps its private KeyObject')
      const keyObject = (key as unknown as Record<symbol, KeyObject>)[made]!
      assert.ok(keyObject.equals(createPrivateKey(key.getPrivatePEM())))
    })
  }

  it('an Ed25519 and X25519 connection (real ssh2 server and client) builds every key from raw bytes: no PEM or DER', async () => {
    // In a child process, node:crypto's key constructors are wrapped before ssh2 loads and report what
    // they were given; the child connects an ssh2 client to an ssh2 server and runs one exec.
    const hostKey = keys.ed25519!
    const clientKey = keys['enc-ed25519']!
    const script = `
      const crypto = require('node:crypto')
      const seen = []
      for (const name of ['createPrivateKey', 'createPublicKey']) {
        const original = crypto[name]
        crypto[name] = (key) => { seen.push(typeof key === 'string' || Buffer.isBuffer(key) ? 'pem' : key.format ?? 'pem'); return original(key) }
      }
      // A key given to sign or verify as text is decoded there (ssh2's load-time Ed25519 check did so).
      for (const name of ['sign', 'verify']) {
        const original = crypto[name]
        crypto[name] = (algorithm, data, key, ...rest) => { if (typeof key === 'string' || Buffer.isBuffer(key)) seen.push('pem'); return original(algorithm, data, key, ...rest) }
      }
      const {Client, Server, utils} = require('ssh2')
      const fs = require('node:fs')
      const host = fs.readFileSync(${JSON.stringify(hostKey)})
      const server = new Server({hostKeys: [host], algorithms: {kex: ['curve25519-sha256']}}, (client) => {
        client.on('authentication', (ctx) => {
          if (ctx.method === 'publickey' && ctx.signature) {
            const key = utils.parseKey(ctx.key.data)
            return key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true ? ctx.accept() : ctx.reject()
          }
          ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])
        }).on('ready', () => client.on('session', (accept) => accept().once('exec', (accept) => {
          const stream = accept(); stream.end('ran'); stream.exit(0)
        })))
      }).listen(0, '127.0.0.1', () => {
        const client = new Client()
        client.on('ready', () => client.exec('x', (error, stream) => {
          let out = ''
          stream.on('data', (d) => (out += d)).on('close', () => {
            client.end(); server.close()
            console.log(JSON.stringify({out, seen}))
          })
        })).on('error', (error) => { console.error(error); process.exit(1) })
        client.connect({host: '127.0.0.1', port: server.address().port, username: 'u', privateKey: fs.readFileSync(${JSON.stringify(clientKey)}), passphrase: ${JSON.stringify(PASSPHRASE)}, algorithms: {kex: ['curve25519-sha256']}})
      })`
    const {stdout} = await promisify(execFile)(process.execPath, ['-e', script], {cwd: root, timeout: 30_000})
    const {out, seen} = JSON.parse(stdout) as {out: string; seen: string[]}
    assert.equal(out, 'ran')
    // Both sides' x25519 peer keys, the host key check, the user's signature and its check.
    assert.ok(seen.length >= 4, `key objects made: ${seen.join(', ')}`)
    assert.deepEqual([...new Set(seen)], ['jwk'])
  })
})

/** The client's debug lines of one connection to an ssh2 server that calls itself `ident`, and what the server saw. */
async function authenticate(ident: string, clientKey: Buffer, hostKey: Buffer, accept = true): Promise<{error?: Error; hashAlgos: Array<string | undefined>; lines: string[]}> {
  const hashAlgos: Array<string | undefined> = []
  const server = new ssh2.Server({hostKeys: [hostKey], ident}, (client) => {
    client.on('error', () => {})
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey'])
      if (!ctx.signature) return accept ? ctx.accept() : ctx.reject(['publickey'])
      hashAlgos.push(ctx.hashAlgo)
      const key = ssh2.utils.parseKey(ctx.key.data)
      if (accept && !(key instanceof Error) && key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true) ctx.accept()
      else ctx.reject(['publickey'])
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const lines: string[] = []
  const client = new ssh2.Client()
  try {
    const error = await new Promise<Error | undefined>((resolve) => {
      client.once('ready', () => resolve(undefined)).once('error', resolve)
      client.connect({debug: (line) => lines.push(line), host: '127.0.0.1', port: (server.address() as AddressInfo).port, privateKey: clientKey, readyTimeout: 20_000, username: 'u'})
    })
    return {error, hashAlgos, lines}
  } finally {
    client.end()
    server.close()
  }
}

/** Whether the client sent its first authentication request (ssh2's own client: "none") before it had the server's SERVICE_ACCEPT. */
function sentWithService(lines: string[]): boolean {
  const request = lines.findIndex((line) => line.startsWith('Outbound: Sending USERAUTH_REQUEST'))
  const accepted = lines.findIndex((line) => line.startsWith('Inbound: Received SERVICE_ACCEPT'))
  assert.ok(request >= 0 && accepted >= 0, lines.join('\n'))
  return request < accepted
}

describe('ssh2 sends its first authentication request with the service request to a restwire server', {skip: skipWithout('ssh-keygen')}, () => {
  const tempDir = useTempDir()
  const keys: Record<string, Buffer> = {}

  before(async () => {
    for (const [name, type] of [['host', 'ed25519'], ['ed25519', 'ed25519'], ['rsa', 'rsa']] as const) {
      keys[name] = await readFile(await makeKeyWithSshKeygen(tempDir(), name, type))
    }
  })

  it(`to ${RESTWIRE_IDENT}: one flight (the request before SERVICE_ACCEPT), authenticated`, async () => {
    const {error, hashAlgos, lines} = await authenticate(RESTWIRE_IDENT, keys.ed25519!, keys.host!)
    assert.equal(error, undefined)
    assert.ok(sentWithService(lines))
    assert.equal(hashAlgos.length, 1)
  })

  it('an RSA key to a restwire server signs with rsa-sha2-256 without waiting for its EXT_INFO', async () => {
    const {error, hashAlgos, lines} = await authenticate(RESTWIRE_IDENT, keys.rsa!, keys.host!)
    assert.equal(error, undefined)
    assert.ok(sentWithService(lines))
    assert.deepEqual(hashAlgos, ['sha256'])
  })

  it('a key the restwire server refuses fails as before: every configured method failed', async () => {
    const {error, lines} = await authenticate(RESTWIRE_IDENT, keys.ed25519!, keys.host!, false)
    assert.match(String(error), /All configured authentication methods failed/)
    assert.ok(sentWithService(lines))
  })

  for (const ident of ['OpenSSH_9.2p1 Debian-2+deb12u3', 'AsyncSSH_2.14.2']) {
    it(`to any other server (${ident}): the request waits for SERVICE_ACCEPT, as ssh2 sends it`, async () => {
      const {error, lines} = await authenticate(ident, keys.ed25519!, keys.host!)
      assert.equal(error, undefined)
      assert.equal(sentWithService(lines), false)
    })
  }
})
