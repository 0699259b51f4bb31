// `npm run soak`: the four servers at once (real CLI processes: korv serve, tunnel gateway + expose,
// pipe serve + connect, relay start), each under a rotation of hostile peers with a healthy client
// beside it, for SOAK_SECONDS (default 60). Prints one table per server: hostile inputs tried,
// crashes, healthy requests answered late (over SOAK_LATE_MS, default 1000) or not at all, peak RSS.
// Exits 1 if a server crashed or a healthy request went unanswered.
import {createServer} from 'node:http'
import type {AddressInfo, Socket} from 'node:net'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {request} from 'undici'
import {KorvClient} from '../src/core/korv/client.js'
import {loadPrivateKey} from '../src/core/ssh/private-key.js'
import {type CliProcess, restwire, spawnCli} from '../test/helpers/cli.js'
import {
  type HealthyReport,
  MIB,
  deepJsonText,
  floodConnections,
  healthyClient,
  hostileTcpRound,
  openSocket,
  watchRss,
} from '../test/helpers/hostile.js'
import {openRawChannel} from '../test/helpers/korv-fixture.js'
import {cleanup, makeTempDir} from './children.js'

const seconds = Number(process.env.SOAK_SECONDS ?? 60)
const only = new Set((process.env.SOAK_ONLY ?? 'korv,tunnel,pipe,relay').split(','))
const lateMs = Number(process.env.SOAK_LATE_MS ?? 1000)
if (!(seconds > 0) || !(lateMs > 0)) throw new Error('SOAK_SECONDS and SOAK_LATE_MS must be positive numbers')

type Attack = () => Promise<number>

interface SoakTarget {
  name: string
  processes: CliProcess[]
  healthy: () => Promise<void>
  attacks: Attack[]
  close?: () => Promise<void> | void
}

interface SoakRow {
  name: string
  tried: number
  crashes: string[]
  healthy: HealthyReport
  baselineRss: number
  peakRss: number
}

const dir = makeTempDir('restwire-soak-')
const home = join(dir, 'home')
const env = {RESTWIRE_HOME: home}

async function expectOk(response: Promise<{statusCode: number; body: {text(): Promise<string>}}>, what: string): Promise<void> {
  const {body, statusCode} = await response
  const text = await body.text()
  if (statusCode !== 200 && statusCode !== 201) throw new Error(`${what}: ${statusCode} ${text.slice(0, 200)}`)
}

/** Writes `line` on a fresh socket, waits `ms` without reading, then resets it: one hostile input. */
async function sendAndDrop(port: number, data: string | Buffer, ms = 200): Promise<number> {
  const socket = await openSocket({port})
  socket.write(data)
  await sleep(ms)
  socket.destroy()
  return 1
}

/** POSTs a 100,000-deep JSON body to an HTTP gateway; whatever the answer, one hostile input. */
async function postDeepJson(url: string): Promise<number> {
  await request(url, {body: deepJsonText(100_000), headers: {'content-type': 'application/json'}, method: 'POST'}).then(
    ({body}) => body.dump(),
    () => {},
  )
  return 1
}

async function flood(port: number): Promise<number> {
  const sockets = await floodConnections({port}, 100)
  await sleep(300)
  for (const socket of sockets) socket.destroy()
  return sockets.length
}

async function korvTarget(): Promise<SoakTarget> {
  const serve = spawnCli(['korv', 'serve', '--demo', '--listen', '0', '--log-format', 'json'], env)
  const port = (await serve.waitForLog(/"event":"listening"/)).port as number
  const key = await loadPrivateKey(join(home, 'id_ed25519'))
  const client = await KorvClient.connect({hostKeyPolicy: 'off', identities: [key], port, requestTimeoutMs: 30_000})
  const raw = async (act: (channel: Awaited<ReturnType<typeof openRawChannel>>) => Promise<number>): Promise<number> => {
    const channel = await openRawChannel(port, key, 'ndjson')
    try {
      return await act(channel)
    } finally {
      channel.end()
    }
  }

  return {
    attacks: [
      () => hostileTcpRound({port}),
      () => flood(port),
      () =>
        raw(async (channel) => {
          channel.channel.write(deepJsonText(100_000, 'object').replace(/^\{"a":/, '{"id":1,"verb":"STORE","resource":"/echo","body":{"a":') + '}\n')
          channel.channel.write('not json at all\n')
          await Promise.race([channel.waitFor(1), sleep(2000)])
          return 2
        }),
      () =>
        raw(async (channel) => {
          // A client that never reads: thousands of requests, its channel paused.
          channel.channel.pause()
          for (let id = 1; id <= 3000; id++) channel.send({body: {pad: 'x'.repeat(1024)}, id, resource: '/echo', verb: 'STORE'})
          await sleep(1000)
          return 1
        }),
    ],
    close: () => client.close(),
    healthy: async () => {
      const response = await client.request('GET', '/hello')
      if (response.status !== 200) throw new Error(`korv: ${response.status}`)
    },
    name: 'korv serve',
    processes: [serve],
  }
}

/** A server with an HTTP gateway (tunnel gateway, pipe serve) and one node dialled into it. */
async function startWithNode(server: string[], node: (port: number) => string[]): Promise<{port: number; http: string; httpPort: number; processes: CliProcess[]}> {
  const serverProcess = spawnCli([...server, '--listen', '0', '--http', '127.0.0.1:0', '--log-format', 'json'], env)
  const listening = await serverProcess.waitForLog(/"event":"listening"/)
  const port = listening.port as number
  const nodeProcess = spawnCli([...node(port), '--log-format', 'json'], env)
  await serverProcess.waitForLog(/"event":"node connected"/)
  const http = listening.http as string
  return {http, httpPort: Number(new URL(http).port), port, processes: [serverProcess, nodeProcess]}
}

/** Hostile TCP on the node port and on the HTTP gateway, and a flood of the node port. */
function gatewayAttacks(port: number, httpPort: number): Attack[] {
  return [() => hostileTcpRound({port}), () => hostileTcpRound({port: httpPort}), () => flood(port)]
}

async function tunnelTarget(): Promise<SoakTarget> {
  const {http, httpPort, port, processes} = await startWithNode(
    ['tunnel', 'gateway', '--accept-new'],
    (port) => ['tunnel', 'expose', '--demo', '--node-id', 'soak-node', '--to', `127.0.0.1:${port}`],
  )
  return {
    attacks: [
      ...gatewayAttacks(port, httpPort),
      () => postDeepJson(`${http}/nodes/soak-node/create`),
      // A STREAM whose HTTP client never reads.
      () => sendAndDrop(httpPort, 'GET /nodes/soak-node/stream?n=100000&interval_ms=0 HTTP/1.1\r\nHost: x\r\n\r\n', 1000),
    ],
    healthy: () => expectOk(request(`${http}/nodes/soak-node/home`), 'tunnel'),
    name: 'tunnel gateway',
    processes,
  }
}

async function pipeTarget(): Promise<SoakTarget> {
  const pki = join(dir, 'pki')
  const made = await restwire(['keys', 'ca', '--dir', pki, '--quickstart', '--node', 'node-a'], env)
  if (made.code !== 0) throw new Error(`keys ca: ${made.stderr}`)
  const {http, httpPort, port, processes} = await startWithNode(
    ['pipe', 'serve', '--ca', pki],
    (port) => ['pipe', 'connect', '--to', `127.0.0.1:${port}`, '--ca', pki, '--name', 'node-a', '--http', '127.0.0.1:0'],
  )
  return {
    attacks: [
      ...gatewayAttacks(port, httpPort),
      () => postDeepJson(`${http}/client/node-a/cat//a/b`),
      // An HTTP client that sends a request and never reads, and one that trickles its headers.
      () => sendAndDrop(httpPort, 'GET /client/node-a/time HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(200), 1000),
      () => sendAndDrop(httpPort, 'GET /nodes HTTP/1.1\r\nX-Slow: ', 1000),
    ],
    healthy: () => expectOk(request(`${http}/client/node-a/cat//a/b`), 'pipe'),
    name: 'pipe serve',
    processes,
  }
}

async function relayTarget(): Promise<SoakTarget> {
  const upstream = createServer((req, res) => {
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size') ?? 16)
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({pad: 'x'.repeat(size)}))
  })
  upstream.on('clientError', (_error, socket) => socket.destroy())
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const upstreamPort = (upstream.address() as AddressInfo).port
  const config = join(dir, 'relay.json')
  const {writeFile} = await import('node:fs/promises')
  await writeFile(config, JSON.stringify({requests: {big: {method: 'GET', url: `http://127.0.0.1:${upstreamPort}/?size=65536`}, echo: {method: 'POST', url: `http://127.0.0.1:${upstreamPort}/`}, small: {method: 'GET', url: `http://127.0.0.1:${upstreamPort}/`}}}))
  const relay = spawnCli(['relay', 'start', '--config', config, '--listen', 'tcp://127.0.0.1:0', '--log-format', 'json'], env)
  const address = (await relay.waitForLog(/"event":"listening"/)).address as string
  const port = Number(address.split(':').at(-1))
  const healthySocket = await openSocket({port})
  let buffered = ''
  const waiting = new Map<number, (line: Record<string, unknown>) => void>()
  healthySocket.setEncoding('utf8')
  healthySocket.on('data', (chunk: string) => {
    buffered += chunk
    let newline
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const line = JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>
      buffered = buffered.slice(newline + 1)
      if (line.status !== 'dispatched') waiting.get(line.id as number)?.(line)
    }
  })
  let nextId = 0
  const neverReader = async (): Promise<number> => {
    const socket: Socket = await openSocket({port})
    socket.pause()
    const line = JSON.stringify({request: 'big'}) + '\n'
    for (let index = 0; index < 5000 && !socket.destroyed; index++) socket.write(line)
    await sleep(1000)
    socket.destroy()
    return 1
  }

  return {
    attacks: [
      () => hostileTcpRound({port}),
      () => flood(port),
      () => sendAndDrop(port, `{"request":"echo","id":1,"data":${deepJsonText(100_000, 'object')}}\n`),
      () => sendAndDrop(port, 'x'.repeat(2 * MIB)),
      neverReader,
    ],
    close: () => {
      healthySocket.destroy()
      upstream.close()
    },
    healthy: () =>
      new Promise((resolve, reject) => {
        const id = ++nextId
        waiting.set(id, (line) => {
          waiting.delete(id)
          if (line.status === 'ok') resolve()
          else reject(new Error(`relay: ${JSON.stringify(line).slice(0, 200)}`))
        })
        healthySocket.write(JSON.stringify({id, request: 'small'}) + '\n')
      }),
    name: 'relay start',
    processes: [relay],
  }
}

async function soak(target: SoakTarget, until: number): Promise<SoakRow> {
  const crashes: string[] = []
  let stopping = false
  for (const child of target.processes) {
    void child.exited.then((code) => {
      if (!stopping) crashes.push(`${child.child.spawnargs.slice(2, 4).join(' ')} exited ${code}: ${child.stderr.slice(-3).join(' | ')}`)
    })
  }

  const rss = watchRss(target.processes[0].child.pid!)
  const healthy = healthyClient(target.healthy, lateMs)
  let tried = 0
  for (let round = 0; Date.now() < until && crashes.length === 0; round++) {
    try {
      tried += await target.attacks[round % target.attacks.length]()
    } catch {
      tried++ // the attack itself was refused (connection reset, channel refused): still an input tried
    }
  }

  const report = await healthy.stop()
  const {baseline, peak} = rss.stop()
  stopping = true
  await target.close?.()
  for (const child of target.processes) await child.stop('SIGTERM')
  return {baselineRss: baseline, crashes, healthy: report, name: target.name, peakRss: peak, tried}
}

function printRow(row: SoakRow): void {
  const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`
  const lines: Array<[string, string]> = [
    ['hostile inputs tried', String(row.tried)],
    ['crashes', String(row.crashes.length)],
    ['healthy requests answered', String(row.healthy.answered)],
    [`healthy answered late (> ${lateMs} ms)`, String(row.healthy.late)],
    ['healthy not answered', String(row.healthy.failed.length)],
    ['slowest healthy answer', `${Math.round(row.healthy.slowestMs)} ms`],
    ['peak RSS (baseline)', `${mib(row.peakRss)} (${mib(row.baselineRss)})`],
  ]
  process.stdout.write(`\n${row.name}\n`)
  for (const [label, value] of lines) process.stdout.write(`  ${label.padEnd(36)} ${value}\n`)
  for (const crash of row.crashes) process.stdout.write(`  crash: ${crash}\n`)
  for (const failure of row.healthy.failed.slice(0, 5)) process.stdout.write(`  not answered: ${failure.error}\n`)
}

async function main(): Promise<void> {
  process.stderr.write(`soak: ${[...only].join(", ")}, ${seconds} s, healthy answers over ${lateMs} ms count as late\n`)
  const starters = {korv: korvTarget, pipe: pipeTarget, relay: relayTarget, tunnel: tunnelTarget}
  const targets = await Promise.all(Object.entries(starters).filter(([name]) => only.has(name)).map(([, start]) => start()))
  const until = Date.now() + seconds * 1000
  const rows = await Promise.all(targets.map((target) => soak(target, until)))
  for (const row of rows) printRow(row)
  process.stdout.write(JSON.stringify({soak: rows.map(({crashes, healthy, name, peakRss, tried}) => ({crashes: crashes.length, late: healthy.late, name, notAnswered: healthy.failed.length, peakRssMiB: Math.round(peakRss / MIB), tried}))}) + '\n')
  const failed = rows.some((row) => row.crashes.length > 0 || row.healthy.failed.length > 0)
  cleanup()
  process.exit(failed ? 1 : 0)
}

await main()
