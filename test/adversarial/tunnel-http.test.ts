// The tunnel HTTP API's hot path (src/core/tunnel/http-fast.ts) against hostile HTTP: request
// smuggling, malformed heads, pipelining and trickled bodies, over real sockets to a real gateway and
// node; and the same API through curl (keep-alive, Expect: 100-continue, HEAD, chunked bodies).
// Every smuggling vector must be answered as node:http answers it (400/431, connection closed), the
// hot path's reader must refuse it (parseHead), and the node must never see the smuggled request.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {after, before, describe, it} from 'node:test'
import type {RwRequest} from '../../src/core/message/request.js'
import {Router} from '../../src/core/message/router.js'
import {FAST_MAX_HEAD_BYTES, createFastHttpServer, parseHead} from '../../src/core/tunnel/http-fast.js'
import {closedWithin, openSocket} from '../helpers/hostile.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'
import {type HomeTunnel, startHomeTunnel} from '../helpers/tunnel-fixture.js'

/** Every request the node received, as "METHOD /path". */
const seen: string[] = []
const router = new Router()
  .route('POST', '/echo', (req: RwRequest) => {
    seen.push(`POST ${req.path}`)
    return req.body ?? null
  })
  .route('GET', '/smuggled', (req: RwRequest) => {
    seen.push(`GET ${req.path}`)
    return {smuggled: true}
  })
  .route('STREAM', '/items', async function* () {
    for (let i = 0; i < 3; i++) yield {i}
  })

/** Writes `bytes` on a new connection and collects what comes back until the server closes or `ms` pass. */
async function exchange(port: number, bytes: string | Buffer, ms = 3000): Promise<{text: string; closed: boolean}> {
  const socket = await openSocket({port})
  let text = ''
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')))
  socket.write(bytes)
  const closed = await closedWithin(socket, ms)
  socket.destroy()
  return {closed, text}
}

/** The status codes of the answers in `text`, in order. */
function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]))
}

const VECTORS: Record<string, {bytes: string; status: number}> = {
  'duplicate equal Content-Length': {bytes: 'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}', status: 400},
  'conflicting Content-Length': {bytes: 'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 52\r\n\r\n{}GET /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\n\r\n', status: 400},
  'Transfer-Encoding with Content-Length': {
    bytes: 'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    status: 400,
  },
  'Content-Length with a sign': {bytes: 'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}', status: 400},
  'Content-Length with a space inside': {bytes: 'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n{}', status: 400},
  'space before the colon': {bytes: 'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length : 46\r\n\r\nGET /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\n\r\n', status: 400},
  'obs-fold': {bytes: 'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nX-A: b\r\n Content-Length: 46\r\n\r\nGET /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\n\r\n', status: 400},
  'bare LF inside the head': {bytes: 'POST /nodes/n/echo HTTP/1.1\r\nHost: x\nContent-Length: 46\r\n\r\nGET /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\n\r\n', status: 400},
  'bare CR inside the head': {bytes: 'POST /nodes/n/echo HTTP/1.1\r\nHost: x\rContent-Length: 46\r\n\r\nGET /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\n\r\n', status: 400},
  'head ended by bare LFs': {bytes: 'GET /nodes/n/smuggled HTTP/1.1\nHost: x\n\n', status: 400},
  'NUL in a value': {bytes: 'GET /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n', status: 400},
  'non-token method': {bytes: 'G(T /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\n\r\n', status: 400},
  'no Host': {bytes: 'GET /nodes/n/smuggled HTTP/1.1\r\n\r\n', status: 400},
  'head over 16 KiB': {bytes: `GET /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(FAST_MAX_HEAD_BYTES + 10)}\r\n\r\n`, status: 431},
  'request line over 16 KiB': {bytes: `GET /nodes/n/smuggled?${'a'.repeat(FAST_MAX_HEAD_BYTES + 10)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 431},
}

describe('tunnel HTTP API hot path: hostile HTTP', {timeout: 120_000}, () => {
  const dir = useTempDir('rw-tunnel-http-')
  let tunnel: HomeTunnel
  let port: number

  before(async () => {
    tunnel = await startHomeTunnel(dir(), 'n', router)
    port = Number(new URL(tunnel.api).port)
  })
  after(() => tunnel?.close())

  for (const [name, {bytes, status}] of Object.entries(VECTORS)) {
    it(`smuggling: ${name} is refused by the reader, answered ${status} and closed; nothing reaches the node`, async () => {
      const end = bytes.indexOf('\r\n\r\n')
      if (end !== -1 && end <= FAST_MAX_HEAD_BYTES) assert.equal(parseHead(bytes.slice(0, end)), undefined, 'the hot path refuses the head')
      seen.length = 0
      const {closed, text} = await exchange(port, bytes)
      assert.deepEqual(statuses(text), [status], text.slice(0, 200))
      assert.ok(closed, 'the connection is closed after the refusal')
      assert.deepEqual(seen, [])
    })
  }

  it('the reader takes a plain request, and refuses what it leaves to node:http', () => {
    assert.deepEqual(parseHead('POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nAccept: */*\r\nConnection: keep-alive'), {accept: '*/*', contentLength: 2, method: 'POST', target: '/nodes/n/echo'})
    for (const head of [
      'POST /nodes/n/echo HTTP/1.0\r\nHost: x',
      'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nHost: y',
      'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked',
      'POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue',
      'GET /nodes HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade',
      'GET /nodes HTTP/1.1\r\nHost: x\r\nConnection: close',
      'GET /nodes HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b',
      'GET http://x/nodes HTTP/1.1\r\nHost: x',
      'GET /nodes\t HTTP/1.1\r\nHost: x',
      'GET /nodes HTTP/1.1\r\nHost: caf\u00e9',
      'GET /nodes HTTP/1.1\r\n: empty-name',
    ]) {
      assert.equal(parseHead(head), undefined, head)
    }
  })

  it('pipelined requests, hot and handed over, are answered in order on one connection', async () => {
    seen.length = 0
    const post = (n: number): string => `POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${String(n).length + 6}\r\n\r\n{"n":${n}}`
    // Hot, hot, a HEAD (node:http from there on: 405 without a body), then hot-path-shaped ones node:http now serves.
    const bytes = post(1) + post(2) + 'HEAD /nodes HTTP/1.1\r\nHost: x\r\n\r\n' + post(3) + 'GET /nodes/n/smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    const {closed, text} = await exchange(port, bytes, 10_000)
    assert.deepEqual(statuses(text), [200, 200, 405, 200, 200])
    assert.ok(closed)
    const bodies = [...text.matchAll(/\{"n":(\d)\}/g)].map((match) => Number(match[1]))
    assert.deepEqual(bodies, [1, 2, 3])
    assert.deepEqual(seen, ['POST /echo', 'POST /echo', 'POST /echo', 'GET /smuggled'])
  })

  it('200 pipelined requests in one write are all answered, in order', async () => {
    let bytes = ''
    for (let n = 0; n < 200; n++) bytes += `POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${String(n).length + 6}\r\n\r\n{"n":${n}}`
    const socket = await openSocket({port})
    let text = ''
    const all = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString()
        if (statuses(text).length === 200 && text.endsWith('{"n":199}')) resolve()
      })
    })
    socket.write(bytes)
    await all
    socket.destroy()
    assert.deepEqual(
      [...text.matchAll(/\{"n":(\d+)\}/g)].map((match) => Number(match[1])),
      Array.from({length: 200}, (_, n) => n),
    )
  })

  it('a head and body trickled a byte at a time are read whole', async () => {
    const socket = await openSocket({port})
    let text = ''
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
    const body = JSON.stringify({trickled: 'yes'})
    for (const byte of `POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`) {
      socket.write(byte)
      await new Promise((resolve) => setImmediate(resolve))
    }

    await waitUntil(() => text.endsWith(body))
    assert.deepEqual(statuses(text), [200])
    socket.destroy()
  })

  it('a client that sends FIN after its requests still gets their answers', async () => {
    const socket = await openSocket({port})
    let text = ''
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
    socket.end('POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{"n":7}')
    assert.ok(await closedWithin(socket, 5000))
    assert.deepEqual(statuses(text), [200])
    assert.match(text, /\{"n":7\}$/)
  })

  it('a client that resets with answers pending leaves the API serving', async () => {
    const socket = await openSocket({port})
    socket.write('POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{"n":1}POST /nodes/n/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{')
    socket.resetAndDestroy()
    const {text} = await exchange(port, 'GET /nodes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert.deepEqual(statuses(text), [200])
  })

  describe('through curl', {skip: skipWithout('curl')}, () => {
    it('keep-alive: several requests on one connection, hot and not', async () => {
      const {stdout, stderr} = await run(tool('curl'), ['-sv', '-w', '\n', `${tunnel.api}/nodes`, '--next', '-s', '-w', '\n', '--json', '{"a":1}', `${tunnel.api}/nodes/n/echo`, '--next', '-s', '-H', 'accept: application/x-ndjson', `${tunnel.api}/nodes/n/items`, '--next', '-s', '--json', '{"a":2}', `${tunnel.api}/nodes/n/echo`])
      assert.match(stderr, /Re-using existing connection|Reusing existing connection/i)
      const lines = stdout.split('\n').filter(Boolean)
      assert.deepEqual(JSON.parse(lines[0]!).map((node: {id: string}) => node.id), ['n'])
      assert.deepEqual(lines.slice(1), ['{"a":1}', '{"i":0}', '{"i":1}', '{"i":2}', '{"a":2}'])
    })

    it('Expect: 100-continue and a chunked body are served (by node:http), the same as before', async () => {
      const big = JSON.stringify({pad: 'p'.repeat(5000)})
      const expect = await run(tool('curl'), ['-s', '-H', 'expect: 100-continue', '--json', big, `${tunnel.api}/nodes/n/echo`])
      assert.equal(expect.stdout, big)
      const chunked = await run(tool('curl'), ['-s', '-H', 'transfer-encoding: chunked', '--json', '{"c":1}', `${tunnel.api}/nodes/n/echo`])
      assert.equal(chunked.stdout, '{"c":1}')
    })

    it('HEAD is 405 without a body; an unknown node is 404 with the list', async () => {
      const head = await run(tool('curl'), ['-sI', `${tunnel.api}/nodes/n/echo`])
      assert.match(head.stdout, /^HTTP\/1\.1 405 /)
      const unknown = await run(tool('curl'), ['-s', '-w', '\n%{http_code}', '--json', '{}', `${tunnel.api}/nodes/nope/echo`])
      const [body, status] = unknown.stdout.split('\n')
      assert.equal(status, '404')
      assert.equal(JSON.parse(body!).code, 'RW_ERR_NODE_UNKNOWN')
    })
  })
})

describe('tunnel HTTP API hot path: its own timeouts', {timeout: 30_000}, () => {
  it('an idle keep-alive connection is closed; a body that stops coming is answered 408', async () => {
    const fallback = createServer((_req, res) => res.end('fallback'))
    const fast = createFastHttpServer({claims: () => true, fallback, keepAliveMs: 300, maxBodyBytes: 1000, requestTimeoutMs: 300, serve: (_request, answer) => answer({status: 200, text: '{}'})})
    await new Promise<void>((resolve) => fast.server.listen(0, '127.0.0.1', resolve))
    const {port} = fast.server.address() as AddressInfo
    try {
      const idle = await openSocket({port})
      let text = ''
      idle.on('data', (chunk: Buffer) => (text += chunk.toString()))
      idle.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\n')
      assert.ok(await closedWithin(idle, 10_000), 'the idle connection is closed')
      assert.deepEqual(statuses(text), [200])
      const slow = await exchange(port, 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{', 10_000)
      assert.ok(slow.closed)
      assert.deepEqual(statuses(slow.text), [408])
    } finally {
      fast.closeAll()
      await new Promise((resolve) => fast.server.close(resolve))
    }
  })
})

async function waitUntil(check: () => boolean, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !check(); await new Promise((resolve) => setTimeout(resolve, 10))) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
  }
}

function run(file: string, args: string[]): Promise<{stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    execFile(file, args, {timeout: 30_000}, (error, stdout, stderr) => (error ? reject(new Error(`${file} failed: ${stderr || error.message}`)) : resolve({stderr, stdout})))
  })
}
