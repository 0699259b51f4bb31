import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdir, symlink, writeFile} from 'node:fs/promises'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {Client, request} from 'undici'
import {type PipeGatewayHandle, startPipeGateway} from '../../../src/core/pipe/gateway.js'
import {setUpPipeHandler} from '../../../src/core/pipe/handler-setup.js'
import type {PipeHubHandle} from '../../../src/core/pipe/hub.js'
import type {PipeNodeHandle} from '../../../src/core/pipe/node.js'
import {startTestHub, startTestNode} from '../../helpers/pipe-fixture.js'
import {makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {closedWithin, openSocket} from '../../helpers/hostile.js'
import {skipWithout, tool} from '../../helpers/tools.js'
import {waitFor} from '../../helpers/wait.js'

/** curl, a real HTTP client; --path-as-is keeps `..` in the path so that the pipe gets to judge it. */
function curl(args: string[]): Promise<{status: number; code: string | undefined; body: string}> {
  return new Promise((resolve, reject) => {
    execFile(tool('curl'), ['-s', '--path-as-is', '-D', '-', '--max-time', '20', ...args], {encoding: 'utf8', maxBuffer: 64 * 1024 * 1024}, (error, stdout) => {
      if (error) return reject(error)
      const [head = '', ...rest] = stdout.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '').split('\r\n\r\n')
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1])
      resolve({body: rest.join('\r\n\r\n'), code: /x-event-return-code: (\d+)/i.exec(head)?.[1], status})
    })
  })
}

describe('pipe gateways and handler sources', {skip: skipWithout('openssl', 'curl'), timeout: 90_000}, () => {
  const dir = useTempDir('restwire-pipe-gw-')
  let hub: PipeHubHandle
  let node: PipeNodeHandle
  let hubGateway: PipeGatewayHandle
  let nodeGateway: PipeGatewayHandle
  const closers: Array<() => Promise<void>> = []
  let files: string
  const hangClosed: Array<() => void> = []

  before(async () => {
    const pki = await makePipePki(dir())
    files = join(dir(), 'files')
    await mkdir(join(files, 'reports'), {recursive: true})
    await writeFile(join(files, 'reports', 'q3.pdf'), Buffer.from([0x25, 0x50, 0x44, 0x46, 0, 1, 2, 0xff]))
    await writeFile(join(dir(), 'secret.txt'), 'outside')
    await symlink(join(dir(), 'secret.txt'), join(files, 'escape.txt'))
    await symlink(join(files, 'reports', 'q3.pdf'), join(files, 'inside-link.pdf'))

    const upstream = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        if (req.url?.startsWith('/api/hang')) {
          if (req.url === '/api/hang/abandoned') res.on('close', () => hangClosed.splice(0).forEach((wake) => wake()))
          return
        }

        const status = req.url === '/api/missing' ? 404 : 200
        res.writeHead(status, {'content-type': 'application/json'})
        res.end(JSON.stringify({body: Buffer.concat(chunks).toString(), method: req.method, peer: req.headers['x-pipe-peer'], url: req.url}))
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    closers.push(() => {
      upstream.closeAllConnections()
      return new Promise((resolve) => upstream.close(() => resolve()))
    })

    const handlersFile = join(dir(), 'handlers.mjs')
    await writeFile(handlersFile, 'export function get_time_utc(ctx, post, ...args) { return {utc: true, args, peer: ctx.peer} }\nexport async function post_upload(ctx, [type, body]) { let n = 0; const hash = (await import("node:crypto")).createHash("sha256"); for await (const c of body) { n += c.length; hash.update(c) } return {type, bytes: n, sha256: hash.digest("hex")} }\n')
    const hubSetup = await setUpPipeHandler({side: 'hub', handlersFile, upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/api`})
    const nodeSetup = await setUpPipeHandler({serveDir: files, side: 'node'})
    closers.push(() => hubSetup.close())
    ;({hub} = await startTestHub(pki, {handler: hubSetup.handler}))
    ;({node} = await startTestNode(pki, hub.address.port, {handler: nodeSetup.handler}))
    await hub.waitForNode('node-a')
    hubGateway = await startPipeGateway({hub, kind: 'hub'}, {port: 0, timeoutMs: 2000})
    nodeGateway = await startPipeGateway({kind: 'node', node}, {port: 0, timeoutMs: 2000})
  })
  after(async () => {
    await hubGateway?.close()
    await nodeGateway?.close()
    await node?.close()
    await hub?.close()
    for (const close of closers) await close()
  })

  it('fetches a file from the node, binary intact (the quick start use case)', async () => {
    const response = await request(`${hubGateway.url}/client/node-a/file//reports/q3.pdf`)
    assert.equal(response.statusCode, 200)
    assert.equal(response.headers['x-event-return-code'], '0')
    assert.equal(response.headers['content-type'], 'application/pdf')
    assert.deepEqual([...Buffer.from(await response.body.arrayBuffer())], [0x25, 0x50, 0x44, 0x46, 0, 1, 2, 0xff])
    const linked = await curl([`${hubGateway.url}/client/node-a/file//inside-link.pdf`])
    assert.equal(linked.code, '0')
  })

  it('never serves a path outside the directory: .., absolute, symlink out, NUL, a directory', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['dot-dot', 'file//../secret.txt', /path refused: ".." in the path/],
      ['dot-dot deeper', 'file//reports/../../secret.txt', /path refused: ".." in the path/],
      ['encoded dot-dot', 'file//%2e%2e/secret.txt', /path refused: ".." in the path/],
      ['encoded slash', 'file//reports%2f..%2f..%2fsecret.txt', /path refused: ".." in the path/],
      ['absolute', 'file///etc/passwd', /path refused: absolute path/],
      ['symlink out', 'file//escape.txt', /resolves outside the served directory/],
      ['NUL', 'file//q3.pdf%00.txt', /path refused: NUL in the path/],
      ['missing', 'file//nope.pdf', /no such file: nope.pdf/],
      ['directory', 'file//reports', /not a regular file: reports/],
    ]
    for (const [name, path, message] of cases) {
      const answer = await curl([`${hubGateway.url}/client/node-a/${path}`])
      assert.equal(answer.status, 200, name)
      assert.notEqual(answer.code, '0', name)
      assert.match((JSON.parse(answer.body) as {error: string}).error, message, name)
    }
  })

  it('calls --handlers functions on the hub from the node gateway, with // arguments decoded', async () => {
    const answer = await curl([`${nodeGateway.url}/server/time/utc//a%20b/c`])
    assert.equal(answer.code, '0')
    assert.deepEqual(JSON.parse(answer.body), {args: ['a b', 'c'], peer: 'node-a', utc: true})
  })

  it('streams a reply that does not come whole (chunked, no length) and keeps the connection; a whole one goes with its length', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 5)
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff
    await writeFile(join(files, 'big.bin'), big)
    const client = new Client(hubGateway.url)
    try {
      const streamed = await client.request({method: 'GET', path: '/client/node-a/file//big.bin'})
      assert.equal(streamed.statusCode, 200)
      assert.equal(streamed.headers['content-length'], undefined)
      assert.equal(streamed.headers['transfer-encoding'], 'chunked')
      assert.ok(Buffer.from(await streamed.body.arrayBuffer()).equals(big))
      const file = await client.request({method: 'GET', path: '/client/node-a/file//reports/q3.pdf'})
      assert.deepEqual([...Buffer.from(await file.body.arrayBuffer())], [0x25, 0x50, 0x44, 0x46, 0, 1, 2, 0xff])
    } finally {
      await client.close()
    }

    // A handler's JSON answer comes whole in one frame: written at once, with its length.
    const whole = await request(`${nodeGateway.url}/server/time/utc//x`)
    const text = await whole.body.text()
    assert.deepEqual(JSON.parse(text), {args: ['x'], peer: 'node-a', utc: true})
    assert.equal(whole.headers['content-length'], String(Buffer.byteLength(text)))
    assert.equal(whole.headers['transfer-encoding'], undefined)
    assert.equal(whole.headers['x-event-return-code'], '0')
  })

  it('streams a 64 MiB request body to a handler through the gateway (curl uploads, the handler hashes)', async () => {
    const file = join(dir(), 'big.bin')
    const block = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < block.length; i++) block[i] = (i * 31) & 0xff
    const hash = createHash('sha256')
    const blocks = Array.from({length: 64}, () => block)
    for (const b of blocks) hash.update(b)
    await writeFile(file, Buffer.concat(blocks))
    const answer = await curl(['-X', 'POST', '-H', 'expect:', '-H', 'content-type: application/x-big', '--data-binary', `@${file}`, `${nodeGateway.url}/server/upload`])
    assert.equal(answer.code, '0', JSON.stringify(answer))
    assert.deepEqual(JSON.parse(answer.body), {bytes: 64 * 1024 * 1024, sha256: hash.digest('hex'), type: 'application/x-big'})
  })

  it('forwards other events to --upstream, body and status kept', async () => {
    const posted = await curl(['-X', 'POST', '-d', 'hello', `${nodeGateway.url}/server/items//7`])
    assert.equal(posted.code, '0')
    assert.deepEqual(JSON.parse(posted.body), {body: 'hello', method: 'POST', peer: 'node-a', url: '/api/items/7'})
    const missing = await curl([`${nodeGateway.url}/server/missing`])
    assert.equal(missing.code, '404')
  })

  it('answers gateway errors with HTTP statuses: 404 unknown node, 404 bad endpoint, 400 bad escape, 504 no reply', async () => {
    assert.equal((await curl([`${hubGateway.url}/client/nobody/time`])).status, 404)
    assert.equal((await curl([`${hubGateway.url}/elsewhere`])).status, 404)
    assert.equal((await curl([`${hubGateway.url}/client/node-a/cat//%zz/b`])).status, 400)
    const hang = await curl([`${nodeGateway.url}/server/hang`])
    assert.equal(hang.status, 504)
    assert.match(hang.body, /no reply within 2000 ms/)
  })

  it('an HTTP client that goes away ends the event on the peer too', async () => {
    // A gateway that would wait a minute: only the client leaving can end the event early.
    const patient = await startPipeGateway({kind: 'node', node}, {port: 0, timeoutMs: 60_000})
    try {
      const abandoned = new Promise<void>((resolve) => hangClosed.push(resolve))
      // The upstream never answers /api/hang; curl gives up after 300 ms and closes its connection.
      await assert.rejects(curl(['--max-time', '0.3', `${patient.url}/server/hang//abandoned`]))
      // The RESET reaches the hub, whose upstream request is aborted: the upstream sees its request close.
      await abandoned
      await waitFor(() => hub.nodes()[0]!.inFlight === 0 && node.inFlight() === 0, 5000, 'the abandoned event to end on both peers')
    } finally {
      await patient.close()
    }
  })

  it('a peer that answers before reading the body: the answer arrives whole, and the kept-alive client goes on', async () => {
    // 8 MiB is past the stream's 4 MiB window: the node answers "no handler" with most of it unsent.
    const client = new Client(hubGateway.url, {bodyTimeout: 20_000, headersTimeout: 20_000})
    try {
      for (let round = 0; round < 3; round++) {
        const early = await client.request({body: Buffer.alloc(8 * 1024 * 1024, 0x61), method: 'POST', path: '/client/node-a/nothing-here'})
        assert.equal(early.statusCode, 200)
        assert.equal(early.headers['x-event-return-code'], '255')
        assert.equal(early.headers.connection, 'close')
        assert.match(await early.body.text(), /no handler/)
        const next = await client.request({method: 'GET', path: '/nodes'})
        assert.equal(next.statusCode, 200)
        assert.equal((JSON.parse(await next.body.text()) as unknown[]).length, 1)
      }
    } finally {
      await client.close()
    }
  })

  it('lists nodes on GET /nodes and refuses other methods there', async () => {
    const nodes = await curl([`${hubGateway.url}/nodes`])
    assert.deepEqual((JSON.parse(nodes.body) as Array<{name: string}>).map((n) => n.name), ['node-a'])
    assert.equal((await curl(['-X', 'POST', `${hubGateway.url}/nodes`])).status, 405)
  })

  it('closes a client that trickles its headers (slowloris) after headersTimeoutMs', async () => {
    const strict = await startPipeGateway({hub, kind: 'hub'}, {headersTimeoutMs: 1000, port: 0})
    try {
      const socket = await openSocket({port: strict.address.port})
      socket.write('GET /nodes HTTP/1.1\r\nHost: x\r\n')
      const drip = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 100)
      const started = Date.now()
      const closed = await closedWithin(socket, 5000)
      clearInterval(drip)
      socket.destroy()
      assert.ok(closed, 'a client trickling headers was not closed')
      assert.ok(Date.now() - started >= 900)
    } finally {
      await strict.close()
    }
  })
})
