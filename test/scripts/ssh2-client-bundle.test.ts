// dist/ssh2-client.cjs, the ssh2 that `korv call` loads when it connects itself, is built with source
// rewrites that leave out work at load (scripts/bundle.mjs): zlib only when compression is negotiated,
// the Poly1305 WebAssembly module only without the native binding, cpu-features read from
// /proc/cpuinfo. What they defer must still work: against a real ssh2 server, a compressed connection,
// chacha20-poly1305, and the cipher order the real cpu-features gives.
import assert from 'node:assert/strict'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import ssh2 from 'ssh2'
import {root} from '../helpers/cli.js'

const require = createRequire(import.meta.url)
const bundle = require(join(root, 'dist', 'ssh2-client.cjs')) as {client: typeof ssh2.Client}

/** One exec over a connection of the bundle's client, with these algorithms; what was negotiated and the bytes received. */
async function exchange(algorithms: ssh2.Algorithms): Promise<{negotiated: ssh2.NegotiatedAlgorithms; received: number}> {
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private
  const server = new ssh2.Server({algorithms, hostKeys: [hostKey]}, (connection) => {
    connection.on('error', () => {})
    connection.on('authentication', (context) => context.accept())
    connection.on('ready', () =>
      connection.on('session', (accept) =>
        accept().on('exec', (acceptExec) => {
          const stream = acceptExec()
          stream.end('z'.repeat(100_000))
          stream.exit(0)
        }),
      ),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
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

describe('the ssh2 bundle of korv call', () => {
  it('compresses when both sides ask for it (zlib loaded then)', async () => {
    const {negotiated, received} = await exchange({compress: ['zlib']})
    assert.equal(negotiated.cs.compress, 'zlib')
    assert.equal(negotiated.sc.compress, 'zlib')
    assert.equal(received, 100_000)
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
})
