// The korv server (a real `korv serve` child process) against every class of hostile peer, each with
// a healthy client beside it that must see every request answered, and memory checked where a peer
// could make the server hold data: clients that never read, floods of connections and of channels.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {generateKeyPairSync, randomBytes} from 'node:crypto'
import {mkdir} from 'node:fs/promises'
import {type Socket, createServer} from 'node:net'
import {dirname, join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import zlib from 'node:zlib'
import type ssh2 from 'ssh2'
import {KorvClient} from '../../src/core/korv/client.js'
import {GzipMemberDecoder, encodeGzipMember} from '../../src/core/framing/gzip-member.js'
import {openPersisted} from '../../src/core/korv/persist-client.js'
import {encodeReply, persistKey, persistSocketPath} from '../../src/core/korv/persist-socket.js'
import {type LoadedPrivateKey, loadPrivateKey} from '../../src/core/ssh/private-key.js'
import {type ServeProcess, restwire, root, startServe} from '../helpers/cli.js'
import {GROWTH_LIMIT_BYTES, MIB, closedWithin, deepJsonText, floodConnections, healthyClient, hostileKeyExchange, hostileTcp, watchRss} from '../helpers/hostile.js'
import {connectRaw, openRawChannel} from '../helpers/korv-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {waitFor} from '../helpers/wait.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const GRACE_MS = 1000
const MAX_STARTUPS = 20
const MAX_CHANNELS = 8

describe('korv serve under attack', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let serve: ServeProcess
  let key: LoadedPrivateKey
  let healthy: KorvClient

  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home')}
    serve = await startServe(
      [
        '--routes', join(root, 'test', 'fixtures', 'korv-hostile-routes.ts'),
        '--login-grace', `${GRACE_MS}ms`,
        '--max-startups', String(MAX_STARTUPS),
        '--max-channels', String(MAX_CHANNELS),
        '--max-message-size', '8MiB',
        '--max-partial-size', '16MiB',
      ],
      {...env, RESTWIRE_HOME: env.RESTWIRE_HOME!},
    )
    // `korv serve` made the zero-config identity, which authorizes the home's client key.
    key = await loadPrivateKey(join(env.RESTWIRE_HOME!, 'id_ed25519'))
    healthy = await connect()
  })
  after(async () => {
    // The server first: a client stuck on a failed test's connection would otherwise hold the file open.
    await serve?.stop('SIGKILL')
    await healthy?.close()
  })

  const connect = (): Promise<KorvClient> =>
    KorvClient.connect({hostKeyPolicy: 'off', identities: [key], port: serve.port, requestTimeoutMs: 10_000})

  /** Runs `attack` with the healthy client calling GET /hello beside it; every call must be answered. */
  async function beside(attack: () => Promise<void>): Promise<void> {
    const report = healthyClient(async () => {
      const response = await healthy.request('GET', '/hello')
      assert.equal(response.status, 200)
    })
    try {
      await attack()
    } finally {
      const result = await report.stop()
      assert.deepEqual(result.failed, [], 'the healthy client saw no failure')
      assert.equal(result.late, 0, `no healthy call took over 5 s (slowest ${Math.round(result.slowestMs)} ms)`)
      assert.ok(result.answered > 0)
    }
  }

  function boundedMemory(): {check(what: string): void} {
    const rss = watchRss(serve.child.pid!)
    return {
      check(what) {
        const {baseline, peak} = rss.stop()
        assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `${what}: the server grew by ${Math.round((peak - baseline) / MIB)} MiB`)
      },
    }
  }

  it('hostile TCP: reset, garbage, silence, trickle, half-ssh; the lingering ones are closed within the grace time', async () => {
    await beside(async () => {
      const peers = await Promise.all((['reset', 'garbage', 'silence', 'trickle', 'half-ssh'] as const).map((kind) => hostileTcp({port: serve.port}, kind, {intervalMs: 200})))
      const closed = await Promise.all(peers.map((socket) => closedWithin(socket, GRACE_MS + 3000)))
      assert.deepEqual(closed, [true, true, true, true, true])
    })
  })

  it('a key exchange with a malformed X25519 key (empty, 31 and 33 bytes, the all-zero point): that connection is closed, no reply', async () => {
    await beside(async () => {
      // The control: a well-formed key gets the server's ECDH reply (31) and NEWKEYS (21).
      const good = await hostileKeyExchange({port: serve.port}, generateKeyPairSync('x25519').publicKey.export({type: 'spki', format: 'der'}).subarray(-32), 10_000)
      assert.deepEqual(good.messages, [31, 21])
      for (const publicKey of [Buffer.alloc(0), randomBytes(31), randomBytes(33), Buffer.alloc(32)]) {
        const {closed, messages} = await hostileKeyExchange({port: serve.port}, publicKey, GRACE_MS + 3000)
        assert.ok(closed, `a ${publicKey.length}-byte key: the connection was closed`)
        // Either a DISCONNECT (1) or nothing at all: never the server's half of the exchange.
        assert.ok(messages.every((message) => message === 1), `a ${publicKey.length}-byte key got messages ${messages.join(',')}`)
      }
    })
  })

  it('malformed frames: corrupt gzip, a reserved deflate block, bad JSON, NDJSON garbage; each closes or answers only its own channel', async () => {
    await beside(async () => {
      const corrupt = await openRawChannel(serve.port, key)
      corrupt.channel.write('this is not gzip at all')
      const reserved = await openRawChannel(serve.port, key)
      reserved.channel.write(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x07, 0, 0, 0, 0, 0, 0, 0, 0]))
      await Promise.all([corrupt.closed, reserved.closed])
      assert.equal(corrupt.responses[0]?.code, 400)
      assert.equal((reserved.responses[0]?.body as {code: string}).code, 'RW_ERR_FRAME_CORRUPT')

      const badJson = await openRawChannel(serve.port, key, 'ndjson')
      badJson.channel.write('{"id":1,\n\u0000\u00ff garbage\n[1,2]\n')
      badJson.send({body: null, id: 2, resource: '/hello', verb: 'GET'})
      const answers = await badJson.waitFor(4)
      assert.deepEqual(answers.map((answer) => answer.code), [400, 400, 400, 200])
      for (const raw of [corrupt, reserved, badJson]) raw.end()
    })
  })

  it('oversized frames: a request over --max-message-size and a compression bomb get 413', async () => {
    await beside(async () => {
      const big = await openRawChannel(serve.port, key)
      big.send({body: 'y'.repeat(9 * MIB), id: 1, resource: '/echo', verb: 'STORE'})
      const bomb = await openRawChannel(serve.port, key)
      bomb.channel.write(zlib.gzipSync(Buffer.alloc(64 * MIB, 0x20)))
      await Promise.all([big.closed, bomb.closed])
      assert.equal(big.responses[0]?.code, 413)
      assert.equal(bomb.responses[0]?.code, 413)
      big.end()
      bomb.end()
    })
  })

  it('deep JSON: 100,000-deep request bodies in both framings get a 500 for that request alone', async () => {
    await beside(async () => {
      for (const kind of ['gzip', 'ndjson'] as const) {
        const raw = await openRawChannel(serve.port, key, kind)
        const text = `{"id":1,"verb":"STORE","resource":"/echo","body":${deepJsonText(100_000, 'array')}}`
        raw.channel.write(kind === 'gzip' ? zlib.gzipSync(text) : text + '\n')
        raw.send({body: {shallow: true}, id: 2, resource: '/echo', verb: 'STORE'})
        const answers = await raw.waitFor(2)
        const code = (id: number): number | undefined => answers.find((answer) => answer.request_id === id)?.code
        assert.deepEqual([code(1), code(2)], [500, 201], kind)
        raw.end()
      }
    })
  })

  it('a client that never reads its answers: the server stops reading it and stays within the memory bound', async () => {
    const memory = boundedMemory()
    await beside(async () => {
      const raw = await openRawChannel(serve.port, key)
      raw.channel.pause()
      // 4,000 answers of 128 KiB: 500 MiB if the server kept producing them.
      for (let id = 1; id <= 4000; id++) raw.send({body: null, id, resource: '/big', verb: 'GET'})
      // The attack itself: the client holds still for 4 s while the memory is watched.
      await sleep(4000)
      raw.end()
    })
    memory.check('never-reading client')
  })

  it('a flood of connections: the excess over --max-startups is refused at once, the authenticated client is served', async () => {
    const memory = boundedMemory()
    await beside(async () => {
      const flood = await floodConnections({port: serve.port}, 300)
      const closed = await Promise.all(flood.map((socket) => closedWithin(socket, GRACE_MS + 3000)))
      assert.equal(closed.filter(Boolean).length, flood.length, 'every unauthenticated socket is closed within the grace time')
      for (const socket of flood) socket.destroy()
      const refused = await serve.waitForLog(/"event":"connection refused".*max-startups/)
      assert.equal(refused.address, '127.0.0.1')
    })
    memory.check('connection flood')
    const late = await connect()
    assert.equal((await late.request('GET', '/hello')).status, 200, 'new clients get in once the flood is over')
    await late.close()
  })

  it('a flood of channels, each holding a partial compressed member: capped per connection, memory bounded', async () => {
    const memory = boundedMemory()
    await beside(async () => {
      const ssh: ssh2.Client = await connectRaw(serve.port, key)
      try {
        // 7 MiB of inflated output each, never finished: 560 MiB for 80 channels without the caps.
        const member = zlib.gzipSync(JSON.stringify({body: 'x'.repeat(7 * MIB), id: 1, resource: '/echo', verb: 'STORE'}))
        const head = member.subarray(0, member.length - 8)
        const attempts = await Promise.allSettled(Array.from({length: 80}, () => openRawChannel(serve.port, key, 'gzip', ssh)))
        const opened = attempts.flatMap((attempt) => (attempt.status === 'fulfilled' ? [attempt.value] : []))
        assert.equal(opened.length, MAX_CHANNELS, 'channels beyond --max-channels are refused')
        await serve.waitForLog(/"event":"channel refused"/)
        for (const raw of opened) raw.channel.write(head)
        // The channels within the budget hold their member and never answer: wait for the others' 413.
        const over = await waitFor(
          () => {
            const refused = opened.filter((raw) => raw.responses[0]?.code === 413)
            return refused.length >= MAX_CHANNELS - 2 && refused
          },
          10_000,
          `${MAX_CHANNELS - 2} channels answered 413`,
        ).catch(() => opened.filter((raw) => raw.responses[0]?.code === 413))
        assert.ok(over.length >= MAX_CHANNELS - 2, `${over.length} channels over the per-connection budget got 413`)
      } finally {
        ssh.end()
      }
    })
    memory.check('channel flood')
  })

  it('a client killed with SIGKILL mid-request does not disturb the server', async () => {
    await beside(async () => {
      const child = spawn(process.execPath, [join(root, 'bin', 'run.js'), 'korv', 'call', 'GET', '/slow', '--to', String(serve.port), '-v'], {
        env: {...process.env, ...env},
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let trace = ''
      child.stderr.on('data', (chunk: Buffer) => (trace += chunk.toString()))
      // -v traces the request as it is sent; /slow takes 1 s to answer, so the kill lands mid-request.
      await waitFor(() => /GET \/slow/.test(trace), 10_000, '`korv call -v` to trace sending GET /slow')
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
    })
    assert.equal(serve.child.exitCode, null, 'the server is still running')
  })
})

// The client side of a persisted connection against a hostile "master" on its UNIX socket.
describe('korv call through a persisted connection whose master is hostile', () => {
  const dir = useTempDir()

  /** A UNIX socket in a 0700 persist dir that accepts and does `onSocket`; the path a call would use. */
  async function fakeMaster(onSocket: (socket: Socket) => void): Promise<{socketPath: string; close(): void}> {
    const persistDir = join(dir(), `persist-${randomBytes(4).toString('hex')}`)
    await mkdir(persistDir, {mode: 0o700})
    const socketPath = join(persistDir, 'm.sock')
    const server = createServer((socket) => {
      socket.on('error', () => {})
      onSocket(socket)
    })
    await new Promise<void>((resolve) => server.listen(socketPath, resolve))
    return {close: () => server.close(), socketPath}
  }

  it('a master that takes the connection and stays silent fails the call with RW_ERR_TIMEOUT, not a hang', async () => {
    const master = await fakeMaster(() => {})
    try {
      const first = {body: null, resource: '/hello', verb: 'GET'}
      await assert.rejects(openPersisted(master.socketPath, 'key', {connectTimeoutMs: 300, first, maxInFlight: 1}), (error: Error & {code?: string}) => {
        assert.equal(error.code, 'RW_ERR_TIMEOUT')
        assert.match(error.message, /did not answer within 300 ms/)
        return true
      })
    } finally {
      master.close()
    }
  })

  it('a master whose answer is 100,000 levels deep: korv call fails with RW_ERR_JSON (exit 11), not an internal error', async () => {
    // The fake master sits on the socket the CLI derives for this target, so the call takes its fast path.
    const home = join(dir(), 'home-deep')
    const port = 9
    const key = persistKey({host: '127.0.0.1', identities: [], knownHostsPath: join(home, 'known_hosts'), port, user: 'deep', verifyHostKey: true})
    const socketPath = persistSocketPath(home, key)
    await mkdir(dirname(socketPath), {mode: 0o700, recursive: true})
    const server = createServer((socket) => {
      socket.on('error', () => {})
      let helloRead = false
      const decoder = new GzipMemberDecoder({
        maxMessageBytes: MIB,
        onError: () => socket.destroy(),
        onMessage: (payload) => {
          const {id} = JSON.parse(payload.toString()) as {id: number}
          socket.write(encodeGzipMember(Buffer.from(`{"request_id":${id},"code":200,"body":${deepJsonText(100_000)}}`)))
        },
      })
      socket.on('data', (chunk: Buffer) => {
        if (helloRead) return decoder.push(chunk)
        const end = chunk.indexOf(10)
        if (end === -1) return
        helloRead = true
        socket.write(encodeReply({coalesce: false, ok: true, pid: process.pid}))
        if (end + 1 < chunk.length) decoder.push(chunk.subarray(end + 1))
      })
    })
    await new Promise<void>((resolve) => server.listen(socketPath, resolve))
    try {
      for (const json of [false, true]) {
        const result = await restwire(['korv', 'call', 'GET', '/deep', '--to', `127.0.0.1:${port}`, '--user', 'deep', ...(json ? ['--json'] : [])], {RESTWIRE_HOME: home})
        assert.equal(result.code, 11, result.stderr)
        assert.match(json ? result.stdout : result.stderr, /RW_ERR_JSON/)
        assert.match(json ? result.stdout : result.stderr, /nested too deeply/)
      }
    } finally {
      server.close()
    }
  })

  it('a master that floods a first line without end is not a persisted connection (the call goes on without it)', async () => {
    const master = await fakeMaster((socket) => {
      const chunk = Buffer.alloc(64 * 1024, 'x')
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk));
      }
      socket.on('drain', pump)
      pump()
    })
    try {
      assert.deepEqual(await openPersisted(master.socketPath, 'key', {connectTimeoutMs: 5000, maxInFlight: 1}), {state: 'absent'})
    } finally {
      master.close()
    }
  })
})
