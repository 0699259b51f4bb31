// `restwire tunnel call` and `tunnel nodes` end to end: the built CLI against a real gateway, its HTTP
// API and a real node, all started in the test process.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {after, before, describe, it} from 'node:test'
import {addTunnelDemoRoutes} from '../../src/core/tunnel/demo-routes.js'
import {Router} from '../../src/core/tunnel/index.js'
import {restwire, root} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {type HomeTunnel, startHomeTunnel} from '../helpers/tunnel-fixture.js'

describe('restwire tunnel call + nodes', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let api: string
  let stopped: Promise<void>
  const nodeId = 'api-1'
  let tunnel: HomeTunnel | undefined
  after(() => tunnel?.close())

  before(async () => {
    let markStopped = (): void => {}
    stopped = new Promise((resolve) => (markStopped = resolve))
    const router = addTunnelDemoRoutes(new Router())
      .route('DELETE', '/things/:id', ({params}) => ({deleted: params.id}))
      .route('PATCH', '/echo', ({body, query}) => ({body, query}))
      .route('STREAM', '/breaks', async function* () {
        yield 'first'
        throw new Error('stream broke')
      })
      .route('GET', '/slow', () => new Promise((resolve) => setTimeout(() => resolve('late'), 3000)))
      .route('STREAM', '/forever', async function* (req) {
        try {
          for (let i = 0; !req.signal.aborted; i++) {
            yield i
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
        } finally {
          markStopped()
        }
      })
    tunnel = await startHomeTunnel(dir(), nodeId, router)
    ;({api, env} = tunnel)
  })

  const call = (args: string[], input?: string) => restwire(['tunnel', 'call', ...args, '--to', api], env, input)

  it('lists the nodes: one JSON line per node when piped, an array with --json', async () => {
    const piped = await restwire(['tunnel', 'nodes', '--to', api], env)
    assert.equal(piped.code, 0, piped.stderr)
    const lines = piped.stdout.trim().split('\n').map((line) => JSON.parse(line) as {id: string; fingerprint: string; inFlight: number})
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!.id, nodeId)
    assert.match(lines[0]!.fingerprint, /^SHA256:/)
    assert.equal(lines[0]!.inFlight, 0)
    const json = await restwire(['tunnel', 'nodes', '--to', api, '--json'], env)
    assert.deepEqual((JSON.parse(json.stdout) as Array<{id: string}>).map((n) => n.id), [nodeId])
  })

  it('GET and POST print the body compactly when piped; --json prints the envelope', async () => {
    const home = await call([nodeId, 'GET', '/home'])
    assert.equal(home.code, 0, home.stderr)
    assert.equal(home.stdout, '{"home":"router"}\n')
    const created = await call([nodeId, 'POST', '/create', '--data', '{"name":"ada"}', '--json'])
    assert.equal(created.code, 0, created.stderr)
    const envelope = JSON.parse(created.stdout) as {status: number; body: unknown; timing: {totalMs: number}}
    assert.equal(envelope.status, 201)
    assert.deepEqual(envelope.body, {name: 'ada'})
    assert.equal(typeof envelope.timing.totalMs, 'number')
  })

  it('sends UPDATE as PATCH with the query kept, and DELETE', async () => {
    const patched = await call([nodeId, 'UPDATE', '/echo?x=1&y=2', '-d', '{"a":1}'])
    assert.equal(patched.code, 0, patched.stderr)
    assert.deepEqual(JSON.parse(patched.stdout), {body: {a: 1}, query: {x: '1', y: '2'}})
    const deleted = await call([nodeId, 'DELETE', '/things/7'])
    assert.equal(deleted.stdout, '{"deleted":"7"}\n')
  })

  it('reads the body from @file and @- (stdin)', async () => {
    const file = join(dir(), 'body.json')
    await writeFile(file, '{"from":"file"}')
    assert.equal((await call([nodeId, 'POST', '/create', '-d', `@${file}`])).stdout, '{"from":"file"}\n')
    const stdin = await call([nodeId, 'POST', '/create', '--data', '@-'], '{"from":"stdin"}')
    assert.equal(stdin.code, 0, stdin.stderr)
    assert.equal(stdin.stdout, '{"from":"stdin"}\n')
  })

  it('exits 8 for an unknown node or route, printing the body', async () => {
    const unknownNode = await call(['nobody', 'GET', '/home'])
    assert.equal(unknownNode.code, 8)
    assert.match(unknownNode.stdout, /nobody|no .*node/i)
    assert.match(unknownNode.stderr, /404/)
    const unknownRoute = await call([nodeId, 'GET', '/nope'])
    assert.equal(unknownRoute.code, 8)
    assert.match(unknownRoute.stdout, /no such resource/)
  })

  it('prints STREAM items as NDJSON lines; an unknown stream exits 8', async () => {
    const result = await call([nodeId, 'STREAM', '/stream?interval_ms=1&n=5'])
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, '0\n1\n2\n3\n4\n')
    const missing = await call([nodeId, 'STREAM', '/nope'])
    assert.equal(missing.code, 8)
    assert.match(missing.stdout, /no such stream/)
  })

  it('a STREAM that breaks mid-way prints the items and the error line, and exits 9', async () => {
    const result = await call([nodeId, 'STREAM', '/breaks'])
    assert.equal(result.code, 9, result.stderr)
    const [first, error, ...rest] = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown)
    assert.equal(first, 'first')
    assert.equal((error as {status: number}).status, 500)
    assert.deepEqual(rest, [])
    assert.match(result.stderr, /ended with an error \(500\): .*stream broke/)
  })

  it('a STREAM with a body is a usage error', async () => {
    const result = await call([nodeId, 'STREAM', '/stream', '--data', '{"n": 1}'])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /a STREAM takes no body/)
  })

  it('Ctrl-C on a STREAM exits 130 and the node stops the stream', async () => {
    const child = spawn(process.execPath, [join(root, 'bin', 'run.js'), 'tunnel', 'call', nodeId, 'STREAM', '/forever', '--to', api], {
      cwd: root,
      env: {...process.env, ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const lines: string[] = []
    for await (const line of createInterface({input: child.stdout})) {
      lines.push(line)
      if (lines.length === 3) break
    }

    assert.deepEqual(lines, ['0', '1', '2'])
    child.kill('SIGINT')
    assert.equal(await exited, 130)
    await stopped
  })

  it('exits 7 when --timeout passes before the answer', async () => {
    const result = await call([nodeId, 'GET', '/slow', '--timeout', '300ms'])
    assert.equal(result.code, 7, result.stderr)
    assert.match(result.stderr, /no answer from the gateway .* within 300 ms/)
  })

  it('rejects an unknown verb with exit 2', async () => {
    const result = await call([nodeId, 'STORE', '/home'])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /unknown verb "STORE"/)
  })
})

describe('restwire tunnel call + nodes without a gateway', () => {
  it('exits 3 with a clear message when the connection is refused', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const {port} = probe.address() as {port: number}
    await new Promise((resolve) => probe.close(resolve))
    const gateway = `http://127.0.0.1:${port}`
    const nodes = await restwire(['tunnel', 'nodes', '--to', gateway], {})
    assert.equal(nodes.code, 3)
    assert.match(nodes.stderr, /cannot reach the gateway's HTTP API at .*connection refused/)
    const called = await restwire(['tunnel', 'call', 'api-1', 'GET', '/home', '--to', gateway], {})
    assert.equal(called.code, 3)
    const streamed = await restwire(['tunnel', 'call', 'api-1', 'STREAM', '/stream', '--to', gateway], {})
    assert.equal(streamed.code, 3)
  })
})
