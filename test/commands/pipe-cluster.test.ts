// `pipe serve --cluster` as real processes on a real nats-server: a large body across hubs with the
// hubs' peak memory, a hub killed with SIGKILL (calls in flight through it get 503 at once, its node is
// reachable again once it redials another hub), a hub refused for wrong NATS credentials, and a creds file
// (--nats-creds) on NATS in operator/JWT mode: two hubs serve a call across them, a hub without it is refused.
// PIPE_CLUSTER_MIB sets the body size (default 64; the figure is 256).
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {request} from 'node:http'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {after, before, describe, it} from 'node:test'
import {builtinSource, createPipeHandler} from '../../src/core/pipe/handlers.js'
import type {PipeNodeHandle} from '../../src/core/pipe/node.js'
import {restwire} from '../helpers/cli.js'
import {makeNatsOperator} from '../helpers/nats-operator.js'
import {type NatsServer, startNatsServer} from '../helpers/nats-server.js'
import {type PipeProcess, startPipeProcess} from '../helpers/pipe-cli.js'
import {until} from '../helpers/pipe-cluster-fixture.js'
import {postSha, startTestNode, testFunctions} from '../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../helpers/pipe-pki.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout} from '../helpers/tools.js'

const MIB = 2 ** 20
const SIZE_BYTES = Number(process.env.PIPE_CLUSTER_MIB ?? 64) * MIB
/** Growth of a hub's peak RSS over its idle RSS that a body of any size must stay under. */
const MAX_GROWTH_BYTES = 96 * MIB

async function memory(pid: number): Promise<{rss: number; peak: number}> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024
  return {peak: kib('VmHWM'), rss: kib('VmRSS')}
}

/** SIZE_BYTES of a pattern that changes every MiB, so a lost or repeated chunk shows. */
function* pattern(): Generator<Buffer> {
  for (let i = 0; i < SIZE_BYTES / MIB; i++) yield Buffer.alloc(MIB, `block ${i} `)
}

const patternSha = (): string => {
  const hash = createHash('sha256')
  for (const block of pattern()) hash.update(block)
  return hash.digest('hex')
}

/** One HTTP exchange: status, headers, and the sha256 and size of the response body, read as it streams. */
function exchange(url: string, method: string, body?: Iterable<Buffer>): Promise<{status: number; headers: Record<string, unknown>; sha: string; bytes: number; text: string}> {
  return new Promise((resolve, reject) => {
    const req = request(url, {method}, (res) => {
      const hash = createHash('sha256')
      let bytes = 0
      let text = ''
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        bytes += chunk.length
        if (text.length < 4096) text += chunk.toString()
      })
      res.on('end', () => resolve({bytes, headers: res.headers, sha: hash.digest('hex'), status: res.statusCode!, text}))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (body) pipeline(Readable.from(body), req).catch(reject)
    else req.end()
  })
}

describe('pipe serve --cluster: real hub processes on NATS', {skip: skipWithout('nats-server', 'openssl'), timeout: 300_000}, () => {
  const dir = useTempDir('restwire-pipe-cluster-cli-')
  let pki: PipePki
  let nats: NatsServer
  const hubs = new Map<string, {process: PipeProcess; port: number; http: string}>()
  const nodes: PipeNodeHandle[] = []
  const processes: PipeProcess[] = []
  const handler = createPipeHandler({
    functions: {
      ...testFunctions,
      post_sha: postSha,
      get_pattern: () =>
        (async function* () {
          yield* pattern()
        })(),
    },
    sources: [builtinSource('node')],
  })

  async function startHub(name: string): Promise<void> {
    const process = await startPipeProcess(
      ['serve', '--ca', pki.dir, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cluster', nats.url, '--cluster-name', 'cli', '--cluster-hub', name, '--timeout', '60s'],
      /"event":"listening"/,
    )
    const listening = await process.waitForLog(/"event":"listening"/)
    hubs.set(name, {http: listening.http as string, port: listening.port as number, process})
  }

  const hub = (name: string): {process: PipeProcess; port: number; http: string} => hubs.get(name)!
  const placed = async (at: string, node: string, on: string): Promise<boolean> => {
    const answer = (await (await fetch(`${hub(at).http}/nodes`)).json()) as {nodes: Array<{name: string; hub: string}>}
    return answer.nodes.some((entry) => entry.name === node && entry.hub === on)
  }

  before(async () => {
    pki = await makePipePki(dir())
    await Promise.all(['far', 'victim'].map((name) => pki.addNode(name)))
    nats = await startNatsServer()
    for (const name of ['hub-a', 'hub-b', 'hub-c']) await startHub(name)
  })
  after(async () => {
    await Promise.all(nodes.map((node) => node.close()))
    await Promise.all(processes.map((process) => process.stop()))
    await Promise.all([...hubs.values()].map(({process}) => process.stop()))
    await nats?.stop()
  })

  it(`carries ${SIZE_BYTES / MIB} MiB each way between hubs, byte-identical, with bounded memory on both`, async () => {
    // This test is about bytes and memory, not dead peers: the fixture's 200 ms heartbeat (a hub silent
    // for 600 ms is dropped) failed it once on a loaded CI machine, hub-b stalled while 64 MiB crossed.
    const {node} = await startTestNode(pki, hub('hub-b').port, {handler, heartbeatMs: 1000, name: 'far'})
    nodes.push(node)
    await node.connected()
    await until('hub-a to see "far" on hub-b', () => placed('hub-a', 'far', 'hub-b'))
    const idle = {a: await memory(hub('hub-a').process.child.pid!), b: await memory(hub('hub-b').process.child.pid!)}
    const expected = patternSha()

    const started = Date.now()
    const up = await exchange(`${hub('hub-a').http}/client/far/sha`, 'POST', pattern())
    const upMs = Date.now() - started
    // A failure here has been seen only in loaded CI runs: say what the hubs and NATS saw.
    const logs = (): string => ['hub-a', 'hub-b'].map((name) => `${name}:\n${hub(name).process.stderr.slice(-20).join('\n')}`).join('\n') + `\nnats-server:\n${nats.log()}`
    assert.equal(up.status, 200, `${up.text}\n${logs()}`)
    assert.deepEqual(JSON.parse(up.text), {bytes: SIZE_BYTES, sha: expected})

    const downStarted = Date.now()
    const down = await exchange(`${hub('hub-a').http}/client/far/pattern`, 'GET')
    const downMs = Date.now() - downStarted
    assert.equal(down.status, 200)
    assert.equal(down.headers['x-event-return-code'], '0')
    assert.equal(down.bytes, SIZE_BYTES)
    assert.equal(down.sha, expected)

    const peak = {a: await memory(hub('hub-a').process.child.pid!), b: await memory(hub('hub-b').process.child.pid!)}
    const growth = {a: peak.a.peak - idle.a.rss, b: peak.b.peak - idle.b.rss}
    const rate = (ms: number): string => `${(SIZE_BYTES / MIB / (ms / 1000)).toFixed(0)} MiB/s`
    console.log(
      `# ${SIZE_BYTES / MIB} MiB across hubs: up ${upMs} ms (${rate(upMs)}), down ${downMs} ms (${rate(downMs)}); ` +
        `peak RSS hub-a ${(peak.a.peak / MIB).toFixed(0)} MiB (idle ${(idle.a.rss / MIB).toFixed(0)}), hub-b ${(peak.b.peak / MIB).toFixed(0)} MiB (idle ${(idle.b.rss / MIB).toFixed(0)})`,
    )
    assert.ok(growth.a < MAX_GROWTH_BYTES, `hub-a grew ${(growth.a / MIB).toFixed(0)} MiB`)
    assert.ok(growth.b < MAX_GROWTH_BYTES, `hub-b grew ${(growth.b / MIB).toFixed(0)} MiB`)
  })

  it('fails calls in flight through a hub killed with SIGKILL at once (503); the node, given several --to, moves to another hub by itself', async () => {
    const handlers = join(dir(), 'victim-handlers.mjs')
    await writeFile(
      handlers,
      'export function get_whoami(ctx) { return {peer: ctx.peer} }\n' +
        "export function get_hang(ctx) { return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null))) }\n",
    )
    const victim = await startPipeProcess(
      ['connect', '--to', `127.0.0.1:${hub('hub-c').port},127.0.0.1:${hub('hub-b').port}`, '--hub-name', 'hub', '--ca', pki.dir, '--name', 'victim', '--handlers', handlers, '--heartbeat', '500ms'],
      /"event":"started"/,
    )
    processes.push(victim)
    // `pipe connect` starts with one of its hubs at random.
    let held = ''
    await until('hub-a to see "victim" on hub-b or hub-c', async () => {
      for (const on of ['hub-b', 'hub-c']) if (await placed('hub-a', 'victim', on)) held = on
      return held !== ''
    })
    const other = held === 'hub-b' ? 'hub-c' : 'hub-b'
    const inFlight = exchange(`${hub('hub-a').http}/client/victim/hang`, 'GET')
    // The call has reached the node's hub (its in-flight count there is what GET /nodes shows on hub-a).
    await new Promise((resolve) => setTimeout(resolve, 300))
    const killed = Date.now()
    hub(held).process.child.kill('SIGKILL')
    const failed = await inFlight
    const failMs = Date.now() - killed
    console.log(`# call in flight through a SIGKILLed hub answered ${failed.status} after ${failMs} ms`)
    // "At once", judged by what answered, not by a time: the hub watch's 503 (its ping found no one), not
    // the 504 of these hubs' 60 s gateway timeout.
    assert.equal(failed.status, 503, failed.text)
    assert.match(failed.text, /the hub holding the node is gone/)

    // The node finds its hub gone and dials the next of its --to, by itself.
    const moved = Date.now()
    await until(`hub-a to see "victim" on ${other}`, () => placed('hub-a', 'victim', other), 30_000)
    console.log(`# the node was listed on ${other} ${Date.now() - moved} ms after its hub was killed`)
    for (const from of ['hub-a', other]) {
      const answer = await exchange(`${hub(from).http}/client/victim/whoami`, 'GET')
      assert.equal(answer.status, 200, answer.text)
      assert.deepEqual(JSON.parse(answer.text), {peer: 'hub'})
    }
  })

  it('refuses to start a hub whose NATS credentials are wrong (exit 3, RW_ERR_CLUSTER)', async () => {
    const guarded = await startNatsServer({pass: 'right-pass', user: 'hubs'})
    try {
      const result = await restwire(
        ['pipe', 'serve', '--ca', pki.dir, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cluster', guarded.url, '--nats-user', 'hubs', '--json'],
        {RESTWIRE_NATS_PASS: 'wrong-pass'},
      )
      assert.equal(result.code, 3, result.stderr)
      assert.match(result.stdout + result.stderr, /RW_ERR_CLUSTER/)
      assert.match(result.stdout + result.stderr, /authorization/i)
    } finally {
      await guarded.stop()
    }
  })

  it('joins NATS in operator/JWT mode with --nats-creds and serves a call across two hubs; refuses a hub without creds or with a stranger\'s (exit 3, RW_ERR_CLUSTER)', async () => {
    const operator = await makeNatsOperator(dir())
    const configFile = join(dir(), 'nats-operator.conf')
    await writeFile(configFile, operator.config)
    const guarded = await startNatsServer({configFile})
    const started: PipeProcess[] = []
    try {
      // Allowed only the cluster's subjects and the inboxes, as docs/cluster.md advises.
      const creds = await operator.userCreds('hubs', ['restwire.pipe.sealed.>', '_INBOX.>'])
      const startCredsHub = async (name: string): Promise<{http: string; port: number}> => {
        const process = await startPipeProcess(
          ['serve', '--ca', pki.dir, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cluster', guarded.url, '--cluster-name', 'sealed', '--cluster-hub', name, '--nats-creds', creds],
          /"event":"listening"/,
        )
        started.push(process)
        const listening = await process.waitForLog(/"event":"listening"/)
        return {http: listening.http as string, port: listening.port as number}
      }

      const a = await startCredsHub('sealed-a')
      const b = await startCredsHub('sealed-b')
      await pki.addNode('sealed-node')
      const {node} = await startTestNode(pki, b.port, {handler, name: 'sealed-node'})
      nodes.push(node)
      await node.connected()
      const placedOnB = async (): Promise<boolean> => {
        const answer = (await (await fetch(`${a.http}/nodes`)).json()) as {nodes: Array<{name: string; hub: string}>}
        return answer.nodes.some((entry) => entry.name === 'sealed-node' && entry.hub === 'sealed-b')
      }

      await until('sealed-a to see "sealed-node" on sealed-b', placedOnB)
      const answer = await exchange(`${a.http}/client/sealed-node/whoami`, 'GET')
      assert.equal(answer.status, 200, answer.text)
      assert.equal(answer.headers['x-event-return-code'], '0')

      const serve = (extra: string[]): ReturnType<typeof restwire> =>
        restwire(['pipe', 'serve', '--ca', pki.dir, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cluster', guarded.url, '--cluster-name', 'sealed', '--json', ...extra], {})
      for (const extra of [[], ['--nats-creds', await operator.strangerCreds('stranger')]]) {
        const result = await serve(extra)
        assert.equal(result.code, 3, `${extra.join(' ')}: ${result.stderr}`)
        assert.match(result.stdout + result.stderr, /RW_ERR_CLUSTER/)
        assert.match(result.stdout + result.stderr, /authorization/i)
      }
    } finally {
      await Promise.all(started.map((process) => process.stop()))
      await guarded.stop()
    }
  })
})
