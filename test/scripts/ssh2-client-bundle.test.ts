// dist/ssh2-client.cjs, the ssh2 that `korv call` loads when it connects itself, is built with source
// rewrites that leave out work at load (scripts/bundle.mjs): zlib only when compression is negotiated,
// the Poly1305 WebAssembly module only without the native binding, cpu-features read from
// /proc/cpuinfo, no Ed25519 self-test where Node's OpenSSL always has it, node:assert when first called;
// and a key file's signed authentication request is sent without the query before it.
// Against a real ssh2 server: a compressed connection, chacha20-poly1305, the cipher order the real
// cpu-features gives, and what the server sees of public key authentication.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {generateKeyPairSync} from 'node:crypto'
import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import ssh2 from 'ssh2'
import {generateSshKeyPair} from '../../src/core/keys/ssh-key-pair.js'
import {requireBundleCode, root} from '../helpers/cli.js'

const require = createRequire(import.meta.url)
// Written inside Node's module wrapper (scripts/bundle.mjs): it loads through the code cache's loader.
const {requireWithCodeCache} = require(join(root, 'dist', 'code-cache.cjs')) as {requireWithCodeCache(file: string): unknown}
const bundle = requireWithCodeCache(join(root, 'dist', 'ssh2-client.cjs')) as {client: typeof ssh2.Client}

/**
 * An OpenSSH Ed25519 private key. Not ssh2's generator alone: it drops a public key's leading zero bytes
 * (about 1 key in 256), and restwire's keeps only keys that parse back.
 */
async function ed25519Key(): Promise<string> {
  return (await generateSshKeyPair({type: 'ed25519'})).privateKey
}

/** An ssh2 server on loopback that lets anyone in and hands each session to `onSession`. */
async function sessionServer(algorithms: ssh2.Algorithms, onSession: (session: ssh2.Session) => void): Promise<ssh2.Server> {
  const hostKey = await ed25519Key()
  const server = new ssh2.Server({algorithms, hostKeys: [hostKey]}, (connection) => {
    connection.on('error', () => {})
    connection.on('authentication', (context) => context.accept())
    connection.on('ready', () => connection.on('session', (accept) => onSession(accept())))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

/** One exec over a connection of the bundle's client, with these algorithms; what was negotiated and the bytes received. */
async function exchange(algorithms: ssh2.Algorithms): Promise<{negotiated: ssh2.NegotiatedAlgorithms; received: number}> {
  const server = await sessionServer(algorithms, (session) =>
    session.on('exec', (acceptExec) => {
      const stream = acceptExec()
      stream.end('z'.repeat(100_000))
      stream.exit(0)
    }),
  )
  const client = new bundle.client()
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000)
      let negotiated: ssh2.NegotiatedAlgorithms
      client.on('error', reject)
      client.on('handshake', (algorithms) => (negotiated = algorithms))
      client.on('ready', () =>
        client.exec('x', (error, stream) => {
          if (error) return reject(error)
          let received = 0
          stream.on('data', (chunk: Buffer) => (received += chunk.length))
          stream.on('close', () => {
            clearTimeout(timer)
            resolve({negotiated, received})
          })
        }),
      )
      client.connect({algorithms, host: '127.0.0.1', password: 'p', port: (server.address() as {port: number}).port, readyTimeout: 10_000, username: 'u'})
    })
  } finally {
    client.end()
    server.close()
  }
}

/** Connects with these keys to a server that accepts only `accepted`; each publickey request it saw, and whether the client got in. */
async function authenticate(keys: Buffer[], accepted: Buffer): Promise<{requests: Array<{signed: boolean; accepted: boolean}>; ready: boolean}> {
  const hostKey = await ed25519Key()
  const acceptedPublic = ssh2.utils.parseKey(accepted) as ssh2.ParsedKey
  const requests: Array<{signed: boolean; accepted: boolean}> = []
  const server = new ssh2.Server({hostKeys: [hostKey]}, (connection) => {
    connection.on('error', () => {})
    connection.on('authentication', (context) => {
      if (context.method !== 'publickey') return context.reject(['publickey'])
      const known = context.key.data.equals(acceptedPublic.getPublicSSH())
      requests.push({accepted: known, signed: context.signature !== undefined})
      if (!known) return context.reject(['publickey'])
      if (context.signature === undefined) return context.accept()
      if (acceptedPublic.verify(context.blob!, context.signature, context.hashAlgo) === true) context.accept()
      else context.reject(['publickey'])
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const client = new bundle.client()
  try {
    const ready = await new Promise<boolean>((resolve) => {
      client.on('error', () => resolve(false))
      client.on('ready', () => resolve(true))
      client.connect({
        authHandler: keys.map((key): ssh2.PublicKeyAuthMethod => ({key, type: 'publickey', username: 'u'})),
        host: '127.0.0.1',
        port: (server.address() as {port: number}).port,
        readyTimeout: 10_000,
        username: 'u',
      })
    })
    return {ready, requests}
  } finally {
    client.end()
    server.close()
  }
}

/**
 * An SFTP session of this client class: one realpath, the SFTP channel ended, then the connection once
 * the server saw the channel close; the events in the order they came.
 */
async function sftpSession(Client: typeof ssh2.Client): Promise<string[]> {
  const events: string[] = []
  const client = new Client()
  const server = await sessionServer({}, (session) =>
    session.on('sftp', (acceptSftp) => {
      const sftp = acceptSftp()
      sftp.on('REALPATH', (id) => sftp.name(id, [{attrs: {} as ssh2.Attributes, filename: '/home', longname: ''}]))
      sftp.on('close', () => {
        events.push('server: sftp closed')
        setImmediate(() => client.end())
      })
    }),
  )
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`SFTP session unfinished within 10 s: ${events.join(', ')}`)), 10_000)
      let closes = 0
      const closed = (event: string): void => {
        events.push(event)
        if (++closes === 2) {
          clearTimeout(timer)
          resolve()
        }
      }

      client.on('error', reject)
      client.on('close', () => closed('client closed'))
      client.on('ready', () =>
        client.sftp((error, sftp) => {
          if (error) return reject(error)
          sftp.on('close', () => closed('client: sftp closed'))
          sftp.realpath('.', (realpathError, path) => {
            if (realpathError) return reject(realpathError)
            events.push(`realpath ${path}`)
            sftp.end()
          })
        }),
      )
      client.connect({host: '127.0.0.1', password: 'p', port: (server.address() as {port: number}).port, readyTimeout: 10_000, username: 'u'})
    })
    return events
  } finally {
    client.end()
    server.close()
  }
}

describe('the ssh2 bundle of korv call', () => {
  const key = async (): Promise<Buffer> => Buffer.from(await ed25519Key())

  it('signs its first publickey request: one request for a key the server takes', async () => {
    const only = await key()
    const result = await authenticate([only], only)
    assert.equal(result.ready, true)
    assert.deepEqual(result.requests, [{accepted: true, signed: true}])
  })

  it('goes on to the next key when the server refuses a signed request, and fails when it refuses all', async () => {
    const [refused, accepted] = [await key(), await key()]
    const second = await authenticate([refused, accepted], accepted)
    assert.equal(second.ready, true)
    assert.deepEqual(second.requests, [{accepted: false, signed: true}, {accepted: true, signed: true}])
    const none = await authenticate([refused], accepted)
    assert.equal(none.ready, false)
    assert.deepEqual(none.requests, [{accepted: false, signed: true}])
  })

  it('compresses when both sides ask for it (zlib loaded then)', async () => {
    const {negotiated, received} = await exchange({compress: ['zlib']})
    assert.equal(negotiated.cs.compress, 'zlib')
    assert.equal(negotiated.sc.compress, 'zlib')
    assert.equal(received, 100_000)
  })

  it('opens an SFTP session (its module loaded then) and closes it as ssh2 does', async () => {
    const bundled = await sftpSession(bundle.client)
    assert.deepEqual(bundled, ['realpath /home', 'server: sftp closed', 'client closed', 'client: sftp closed'])
    assert.deepEqual(bundled, await sftpSession(ssh2.Client))
  })

  it("loads ssh2's native crypto binding", (t) => {
    const binding = join(root, 'node_modules', 'ssh2', 'lib', 'protocol', 'crypto', 'build', 'Release', 'sshcrypto.node')
    if (!existsSync(binding)) return t.skip(`ssh2's install did not build ${binding}`)
    const script = `${requireBundleCode('ssh2-client.cjs')}
process.stdout.write(String(require('node:fs').readFileSync('/proc/self/maps', 'utf8').includes(${JSON.stringify(binding)})))`
    const child = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8', timeout: 20_000})
    assert.equal(child.status, 0, child.stderr)
    assert.equal(child.stdout, 'true')
  })

  it('runs chacha20-poly1305', async () => {
    const {negotiated, received} = await exchange({cipher: ['chacha20-poly1305@openssh.com']})
    assert.equal(negotiated.cs.cipher, 'chacha20-poly1305@openssh.com')
    assert.equal(received, 100_000)
  })

  it('offers the ciphers in the order ssh2 with the real cpu-features does', async () => {
    // The client's default list decides what is negotiated against a server that allows them all.
    const constants = require('ssh2/lib/protocol/constants.js') as {DEFAULT_CIPHER: string[]}
    const {negotiated} = await exchange({})
    assert.equal(negotiated.cs.cipher, constants.DEFAULT_CIPHER[0])
  })

  it('offers ssh-ed25519 host keys first, as ssh2 does after its own Ed25519 test at load', async () => {
    // The bundle skips the sign-and-verify test on OpenSSL 3 outside FIPS mode; the real one must agree.
    const constants = require('ssh2/lib/protocol/constants.js') as {DEFAULT_SERVER_HOST_KEY: string[]; eddsaSupported: boolean}
    assert.equal(constants.eddsaSupported, true)
    assert.equal(constants.DEFAULT_SERVER_HOST_KEY[0], 'ssh-ed25519')
    const {negotiated} = await exchange({})
    assert.equal(negotiated.serverHostKey, 'ssh-ed25519')
  })

  it('parses a PEM key and an OpenSSH Ed25519 key as ssh2 does, without loading node:assert', async () => {
    const {privateKey: pem} = generateKeyPairSync('rsa', {modulusLength: 2048, privateKeyEncoding: {format: 'pem', type: 'pkcs1'}, publicKeyEncoding: {format: 'pem', type: 'spki'}})
    const openssh = await ed25519Key()
    const script = `const bundle = ${requireBundleCode('ssh2-client.cjs')}
const loaded = () => process.moduleLoadList.includes('NativeModule assert')
const atLoad = loaded()
const keys = [process.env.RW_TEST_PEM, process.env.RW_TEST_OPENSSH].map((text) => bundle.keyParser.parseKey(text).getPublicSSH().toString('base64'))
process.stdout.write(JSON.stringify({atLoad, afterParse: loaded(), keys}))`
    const child = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8', env: {...process.env, RW_TEST_OPENSSH: openssh, RW_TEST_PEM: pem}, timeout: 20_000})
    assert.equal(child.status, 0, child.stderr)
    const seen = JSON.parse(child.stdout) as {atLoad: boolean; afterParse: boolean; keys: string[]}
    assert.equal(seen.atLoad, false)
    assert.equal(seen.afterParse, false)
    const expected = [pem, openssh].map((text) => (ssh2.utils.parseKey(text) as ssh2.ParsedKey).getPublicSSH().toString('base64'))
    assert.deepEqual(seen.keys, expected)
  })

  it("answers the asserts that hold itself, and fails the others with node:assert's own errors", () => {
    // The legacy node:assert that asn1 and ssh2 require (this file's `assert` is the strict one).
    const legacy = require('node:assert') as typeof assert
    const standIn = require(join(root, 'scripts', 'assert-when-used.cjs')) as typeof assert
    const thrown = (check: () => void): unknown => {
      try {
        check()
      } catch (error) {
        return error
      }

      return 'nothing thrown'
    }

    for (const [name, args] of [['ok', [1]], ['ok', ['x', 'message']], ['equal', [1, '1']], ['equal', [Number.NaN, Number.NaN]], ['strictEqual', [2, 2]]] as const) {
      assert.equal(thrown(() => (standIn[name] as (...values: unknown[]) => void)(...args)), 'nothing thrown', `${name}(${args.join(', ')})`)
    }

    assert.equal(thrown(() => standIn(true)), 'nothing thrown')
    for (const [name, args] of [['ok', [0]], ['ok', []], ['ok', [null, 'the options']], ['equal', [1, 2]], ['equal', [{}, {}]], ['strictEqual', [1, '1']]] as const) {
      const mine = thrown(() => (standIn[name] as (...values: unknown[]) => void)(...args)) as assert.AssertionError
      const theirs = thrown(() => (legacy[name] as (...values: unknown[]) => void)(...args)) as assert.AssertionError
      assert.ok(mine instanceof assert.AssertionError, `${name}(${args.join(', ')}) throws an AssertionError`)
      // Without a message of its own, node:assert quotes the source of the failing call, which differs.
      const {actual, expected, operator} = theirs
      assert.deepEqual({actual: mine.actual, expected: mine.expected, operator: mine.operator}, {actual, expected, operator})
      if (args.length > 1 && name === 'ok') assert.equal(mine.message, theirs.message)
    }
  })
})
