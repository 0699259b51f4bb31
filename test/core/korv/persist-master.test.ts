// The persisted connection's master (core/korv/persist-master.ts) over a connection whose channels are
// real TCP sockets to an echo server on 127.0.0.1: the channel it opens ahead (the spare), and what
// happens when that spare is closed by the far side or cannot be opened.
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {type AddressInfo, type Server, type Socket, createConnection, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Duplex} from 'node:stream'
import {after, afterEach, before, describe, it} from 'node:test'
import {RestwireError} from '../../../src/core/errors.js'
import {type PersistMaster, type PersistedConnection, startPersistMaster} from '../../../src/core/korv/persist-master.js'
import {encodeHello, parseReply, readFirstLine} from '../../../src/core/korv/persist-socket.js'

const KEY = 'test-target'

describe('persisted connection master: the channel opened ahead', () => {
  let echo: Server
  let echoPort: number
  const farSides = new Set<Socket>()
  let dir: string
  let master: PersistMaster | undefined

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rw-persist-master-'))
    echo = createServer((socket) => {
      farSides.add(socket)
      socket.on('error', () => {})
      socket.once('close', () => farSides.delete(socket))
      socket.pipe(socket)
    })
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
    echoPort = (echo.address() as AddressInfo).port
  })
  afterEach(async () => {
    await master?.close('test done')
    master = undefined
  })
  after(() => {
    for (const socket of farSides) socket.destroy()
    echo.close()
    rmSync(dir, {force: true, recursive: true})
  })

  /** A connection whose channels are TCP sockets to the echo server; `fail` makes the next opens fail. */
  function connection(): PersistedConnection & {opened: number; fail: boolean; channels: Duplex[]} {
    const conn = {
      channels: [] as Duplex[],
      close: async () => {
        for (const channel of conn.channels) channel.destroy()
      },
      coalesce: false,
      fail: false,
      openChannel: (): Promise<Duplex> => {
        conn.opened++
        if (conn.fail) return Promise.reject(new RestwireError('RW_ERR_CONNECT', 'the server refused the channel'))
        return new Promise((resolve, reject) => {
          const socket = createConnection(echoPort, '127.0.0.1', () => resolve(socket))
          socket.once('error', reject)
          conn.channels.push(socket)
        })
      },
      opened: 0,
      sshClosedPromise: new Promise<void>(() => {}),
    }
    return conn
  }

  /** One call through the master's socket: its reply, and the echo of `text` when the reply is ok. */
  async function call(socketPath: string, text: string): Promise<{reply: ReturnType<typeof parseReply>; echoed?: string}> {
    const socket = createConnection(socketPath)
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    socket.write(encodeHello(KEY, 'call'))
    const reply = parseReply(await readFirstLine(socket))
    if (!reply?.ok) {
      socket.destroy()
      return {reply}
    }

    socket.write(text)
    socket.resume()
    const echoed = await new Promise<string>((resolve) => {
      let got = ''
      socket.on('data', (chunk: Buffer) => {
        got += chunk.toString()
        if (got.length >= text.length) resolve(got)
      })
    })
    socket.destroy()
    return {echoed, reply}
  }

  const until = async (condition: () => boolean): Promise<void> => {
    for (let n = 0; n < 200 && !condition(); n++) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.ok(condition())
  }

  it('opens one channel ahead and hands it to the next call, then opens the next one', async () => {
    const conn = connection()
    const socketPath = join(dir, 'a.sock')
    master = await startPersistMaster({connection: conn, idleMs: 60_000, key: KEY, socketPath})
    await until(() => conn.opened === 1)
    const first = await call(socketPath, 'hello')
    assert.equal(first.echoed, 'hello')
    await until(() => conn.opened === 2)
    const second = await call(socketPath, 'again')
    assert.equal(second.echoed, 'again')
    await until(() => conn.opened === 3)
  })

  it('drops a spare the far side closed, and the call opens a channel of its own', async () => {
    const conn = connection()
    const socketPath = join(dir, 'b.sock')
    master = await startPersistMaster({connection: conn, idleMs: 60_000, key: KEY, socketPath})
    await until(() => conn.opened === 1 && farSides.size > 0)
    for (const socket of farSides) socket.destroy()
    await until(() => conn.channels[0]!.destroyed)
    const result = await call(socketPath, 'fresh')
    assert.equal(result.echoed, 'fresh')
    assert.ok(conn.opened >= 2)
  })

  it('a spare that cannot be opened is dropped; the call gets the error of its own attempt', async () => {
    const conn = connection()
    conn.fail = true
    const socketPath = join(dir, 'c.sock')
    master = await startPersistMaster({connection: conn, idleMs: 60_000, key: KEY, socketPath})
    const failed = await call(socketPath, 'x')
    assert.deepEqual(failed.reply && !failed.reply.ok && [failed.reply.code, failed.reply.message], ['RW_ERR_CONNECT', 'the server refused the channel'])
    conn.fail = false
    const result = await call(socketPath, 'works')
    assert.equal(result.echoed, 'works')
  })

  it('closes the spare when it stops', async () => {
    const conn = connection()
    // A connection that leaves its channels open on close: only the master's own stop closes the spare.
    conn.close = async () => {}
    const socketPath = join(dir, 'd.sock')
    master = await startPersistMaster({connection: conn, idleMs: 60_000, key: KEY, socketPath})
    await until(() => conn.channels.length === 1 && !(conn.channels[0] as Socket).connecting)
    const spare = conn.channels[0]!
    await master.close('stop')
    master = undefined
    await until(() => spare.destroyed)
  })
})
