// Every call command's --json output, run for real (korv serve --demo, a tunnel gateway and node, a pipe
// hub and node, a relay with an HTTP upstream), validated against docs/json-envelope.schema.json with Ajv.
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {Ajv2020} from 'ajv/dist/2020.js'
import {addTunnelDemoRoutes} from '../../src/core/tunnel/demo-routes.js'
import {Router} from '../../src/core/tunnel/index.js'
import {type RunResult, type ServeProcess, restwire, root, startServe} from '../helpers/cli.js'
import {type PipeProcess, startPipeProcess} from '../helpers/pipe-cli.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {type RelayProcess, startRelayCli} from '../helpers/relay-cli.js'
import {type Upstream, startUpstream} from '../helpers/relay-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {type HomeTunnel, startHomeTunnel} from '../helpers/tunnel-fixture.js'

const schema = JSON.parse(readFileSync(join(root, 'docs', 'json-envelope.schema.json'), 'utf8')) as Record<string, unknown>
const validate = new Ajv2020({allErrors: true, strict: true, strictRequired: false}).compile(schema)

type Doc = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** Parses every stdout line (compact when piped: one document per line) and checks each against the schema. */
function documents(result: RunResult): Doc[] {
  assert.equal(result.stderr, '', 'nothing on stderr under --json')
  const lines = result.stdout.split('\n').filter((line) => line !== '')
  assert.ok(lines.length > 0, 'some output')
  return lines.map((line) => {
    const doc = JSON.parse(line) as Doc
    assert.ok(validate(doc), `${line}\ndoes not match the schema: ${JSON.stringify(validate.errors, null, 2)}`)
    return doc
  })
}

function one(result: RunResult, exitCode: number): Doc {
  assert.equal(result.code, exitCode, result.stdout + result.stderr)
  const docs = documents(result)
  assert.equal(docs.length, 1, result.stdout)
  return docs[0]!
}

describe('the schema itself', () => {
  it('rejects what a command must not print: an unknown top-level field, a missing field, a foreign protocol object', () => {
    assert.equal((schema.$defs as Doc).envelope.additionalProperties, false)
    assert.equal((schema.$defs as Doc).errorDocument.additionalProperties, false)
    const good = {body: null, bodyEncoding: 'none', headers: {}, korv: {requestId: 1}, ok: true, protocol: 'korv', status: 200, target: {address: '127.0.0.1:1', request: {path: '/', verb: 'GET'}}, timing: {totalMs: 1}}
    assert.ok(validate(good))
    assert.ok(!validate({...good, extra: 1}))
    assert.ok(!validate({...good, status: undefined}))
    assert.ok(!validate({...good, pipe: {code: 0}}))
    assert.ok(!validate({...good, target: {address: 'x', request: {name: 'user', params: {}}}}))
    assert.ok(!validate({error: {code: 'RW_ERR_USAGE', exitCode: 2, message: 'x'}, ok: true}))
  })
})

describe('--json of korv call (korv serve --demo)', {timeout: 120_000}, () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let serve: ServeProcess
  let port: string
  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home')}
    serve = await startServe(['--demo'], env)
    port = String(serve.port)
  })
  after(() => serve?.stop('SIGKILL'))

  it('2xx, 4xx, a refused connection and a usage error', async () => {
    const ok = one(await restwire(['korv', 'call', 'GET', '/hello', '--to', port, '--json'], env), 0)
    assert.deepEqual({...ok, timing: undefined}, {
      body: {msg: 'Hello World!'},
      bodyEncoding: 'json',
      headers: {},
      korv: {requestId: 1},
      ok: true,
      protocol: 'korv',
      status: 200,
      target: {address: `127.0.0.1:${port}`, request: {path: '/hello', verb: 'GET'}},
      timing: undefined,
    })
    assert.equal(typeof ok.timing.connectMs, 'number')
    const missing = one(await restwire(['korv', 'call', 'GET', '/nope', '--to', port, '--json'], env), 8)
    assert.equal(missing.ok, false)
    assert.equal(missing.status, 404)
    const refused = one(await restwire(['korv', 'call', 'GET', '/hello', '--to', '1', '--json'], env), 3)
    assert.deepEqual([refused.ok, refused.error.code], [false, 'RW_ERR_CONNECT'])
    const usage = one(await restwire(['korv', 'call', 'GET', 'no-slash', '--to', port, '--json'], env), 2)
    assert.equal(usage.error.code, 'RW_ERR_USAGE')
  })

  it('--batch: one envelope per answer, an error document per bad line', async () => {
    const input = ['{"verb":"GET","path":"/hello","id":"a"}', 'not json', '{"verb":"GET","path":"/nope"}', ''].join('\n')
    const result = await restwire(['korv', 'call', '--batch', '-', '--to', port], env, input)
    assert.equal(result.code, 8)
    const docs = documents(result)
    assert.equal(docs.length, 3)
    const byLine = new Map(docs.map((doc) => [doc.korv.batch.line as number, doc]))
    assert.deepEqual([byLine.get(1)!.ok, byLine.get(1)!.korv.batch.id, byLine.get(1)!.status], [true, 'a', 200])
    assert.deepEqual([byLine.get(2)!.ok, byLine.get(2)!.error.code, byLine.get(2)!.korv.requestId], [false, 'RW_ERR_USAGE', null])
    assert.deepEqual([byLine.get(3)!.ok, byLine.get(3)!.korv.batch.id, byLine.get(3)!.status], [false, 3, 404])
  })
})

describe('--json of tunnel call (a gateway and a node)', {timeout: 120_000}, () => {
  const dir = useTempDir()
  let tunnel: HomeTunnel | undefined
  after(() => tunnel?.close())
  before(async () => {
    const router = addTunnelDemoRoutes(new Router()).route('STREAM', '/breaks', async function* () {
      yield 'first'
      throw new Error('stream broke')
    })
    tunnel = await startHomeTunnel(dir(), 'demo', router)
  })
  const call = (args: string[]) => restwire(['tunnel', 'call', ...args, '--to', tunnel!.api, '--json'], tunnel!.env)

  it('2xx, an unknown node, an unknown route and a refused connection', async () => {
    const ok = one(await call(['demo', 'GET', '/home']), 0)
    assert.deepEqual([ok.ok, ok.protocol, ok.status, ok.bodyEncoding, ok.tunnel], [true, 'tunnel', 200, 'json', {}])
    assert.deepEqual(ok.target, {address: tunnel!.api, request: {node: 'demo', path: '/home', verb: 'GET'}})
    assert.match(ok.headers['content-type'], /json/)
    const unknownNode = one(await call(['nobody', 'GET', '/home']), 8)
    assert.deepEqual([unknownNode.ok, unknownNode.status], [false, 404])
    const unknownRoute = one(await call(['demo', 'GET', '/no-such-route']), 8)
    assert.deepEqual([unknownRoute.ok, unknownRoute.status], [false, 404])
    const refused = one(await restwire(['tunnel', 'call', 'demo', 'GET', '/home', '--to', 'http://127.0.0.1:1', '--json'], tunnel!.env), 3)
    assert.equal(refused.error.code, 'RW_ERR_CONNECT')
  })

  it('STREAM: one envelope per item; a stream that breaks ends with ok false and tunnel.streamError', async () => {
    const result = await call(['demo', 'STREAM', '/stream?n=3'])
    assert.equal(result.code, 0, result.stderr)
    const items = documents(result)
    assert.deepEqual(items.map((doc) => doc.tunnel.item), [0, 1, 2])
    assert.ok(items.every((doc) => doc.ok && doc.status === 200))
    const broken = await call(['demo', 'STREAM', '/breaks'])
    assert.equal(broken.code, 9)
    const docs = documents(broken)
    assert.deepEqual(docs.map((doc) => [doc.ok, doc.tunnel]), [
      [true, {item: 0}],
      [false, {item: 1, streamError: true}],
    ])
    assert.equal(docs[0]!.body, 'first')
    assert.ok(docs[1]!.status >= 500)
  })
})

describe('--json of pipe call (a hub and a node)', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-pipe-json-')
  let hub: PipeProcess
  let node: PipeProcess
  let hubHttp: string
  const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 0x80])
  before(async () => {
    const pki = await makePipePki(dir())
    const files = join(dir(), 'files')
    await mkdir(files, {recursive: true})
    await writeFile(join(files, 'blob.bin'), binary)
    hub = await startPipeProcess(['serve', '--ca', pki.dir, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--heartbeat', '500ms'], /"event":"listening"/)
    const listening = await hub.waitForLog(/"event":"listening"/)
    hubHttp = listening.http as string
    node = await startPipeProcess(
      ['connect', '--to', `127.0.0.1:${listening.port as number}`, '--hub-name', 'hub', '--ca', pki.dir, '--name', 'node-a', '--serve-dir', files, '--http', '127.0.0.1:0', '--heartbeat', '500ms', '--max-backoff', '1s'],
      /"event":"started"/,
    )
    await node.waitForLog(/"event":"connected"/)
    await hub.waitForLog(/"event":"node connected"/)
  })
  after(async () => {
    await node?.stop('SIGKILL')
    await hub?.stop('SIGKILL')
  })
  const call = (args: string[]) => restwire(['pipe', 'call', ...args, '--to', hubHttp, '--json'], {})

  it('JSON and binary bodies, --output, a refused event, an unknown node and a refused connection', async () => {
    const time = one(await call(['GET', '/client/node-a/time']), 0)
    assert.deepEqual([time.ok, time.protocol, time.status, time.pipe], [true, 'pipe', 200, {code: 0}])
    assert.deepEqual(time.target, {address: hubHttp, request: {path: '/client/node-a/time', verb: 'GET'}})
    const blob = one(await call(['GET', '/client/node-a/file//blob.bin']), 0)
    assert.equal(blob.bodyEncoding, 'base64')
    assert.deepEqual(Buffer.from(blob.body as string, 'base64'), binary)
    const output = join(dir(), 'copy.bin')
    const saved = one(await call(['GET', '/client/node-a/file//blob.bin', '--output', output]), 0)
    assert.deepEqual([saved.body, saved.bodyEncoding, saved.pipe], [null, 'none', {code: 0, output: {bytes: binary.length, path: output}}])
    assert.deepEqual(readFileSync(output), binary)
    const refusedEvent = one(await call(['GET', '/client/node-a/no-such']), 8)
    assert.deepEqual([refusedEvent.ok, refusedEvent.status, refusedEvent.pipe.code], [false, 200, 255])
    const unknownNode = one(await call(['GET', '/client/nobody/time']), 8)
    assert.deepEqual([unknownNode.ok, unknownNode.status, unknownNode.pipe.code], [false, 404, null])
    const refused = one(await restwire(['pipe', 'call', 'GET', '/server/time', '--to', 'http://127.0.0.1:1', '--json'], {}), 3)
    assert.equal(refused.error.code, 'RW_ERR_CONNECT')
  })
})

describe('--json of relay send (a relay and an HTTP upstream)', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-relay-json-')
  let upstream: Upstream
  let relay: RelayProcess
  before(async () => {
    upstream = await startUpstream()
    const configPath = join(dir(), 'relay.json')
    const requests = {
      refused: {method: 'GET', url: 'http://127.0.0.1:1/'},
      status: {method: 'GET', url: `${upstream.origin}/status/{code}`},
      user: {method: 'GET', url: `${upstream.origin}/user/{user_id}`},
    }
    await writeFile(configPath, JSON.stringify({requests}))
    relay = await startRelayCli(['--config', configPath, '--listen', 'tcp://127.0.0.1:0'])
  })
  after(async () => {
    await relay?.stop()
    await upstream?.close()
  })
  const send = (args: string[]) => restwire(['relay', 'send', ...args, '--to', relay.address, '--json'], {})

  it('ok, a non-2xx status, an unknown request, an unreachable upstream and a refused connection', async () => {
    const ok = one(await send(['user', '--params', 'user_id=7']), 0)
    assert.deepEqual([ok.ok, ok.protocol, ok.status, ok.body.id], [true, 'relay', 200, '7'])
    assert.deepEqual(ok.target, {address: relay.address, request: {name: 'user', params: {user_id: '7'}}})
    assert.deepEqual([ok.relay.id, ok.relay.reply, ok.relay.dispatched], [1, 'ok', true])
    const notFound = one(await send(['status', '--params', 'code=404']), 8)
    assert.deepEqual([notFound.ok, notFound.status, notFound.relay.reply], [false, 404, 'error'])
    const unknown = one(await send(['nope']), 2)
    assert.deepEqual([unknown.ok, unknown.status, unknown.body.code], [false, null, 'RW_ERR_RELAY_REQUEST'])
    const upstreamDown = one(await send(['refused']), 13)
    assert.deepEqual([upstreamDown.ok, upstreamDown.status], [false, null])
    const refused = one(await restwire(['relay', 'send', 'user', '--to', 'tcp://127.0.0.1:1', '--json'], {}), 3)
    assert.equal(refused.error.code, 'RW_ERR_CONNECT')
  })
})
