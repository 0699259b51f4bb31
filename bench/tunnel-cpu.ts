// Server CPU per request of the tunnel's request paths (issue 15), for A/B work on the gateway:
//   node --import tsx bench/tunnel-cpu.ts api|library|bare [rounds] [seconds] [concurrency]
// - api: the gateway + HTTP API child (bench/tunnel-child.ts gateway, from TUNNEL_CPU_ROOT if set, so
//   that another tree's build can be measured against this one) and a node child (the same tree's);
//   undici keep-alive POSTs the small JSON to /nodes/bench-node/echo. Measures the gateway child, and
//   reports the node child's and this client's CPU per request too.
// - library: one child runs a gateway and the closed loop of gateway.request() itself (as a library user
//   would) against a node child. Measures that child (client loop included).
// - bare: a node:http server child that reads each body and answers the same JSON from memory: the floor
//   node:http itself imposes on an HTTP server. Measures that child.
// Every side runs the compiled library in dist/ (dist.ts): `npm run build` first (in
// TUNNEL_CPU_ROOT too).
// CPU is utime + stime from /proc/PID/stat over each window, divided by the requests completed in it.
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {Pool} from 'undici'
import {makeTunnelKeys, trustNode} from '../test/helpers/tunnel-fixture.js'
import {loadTunnel} from './dist.js'

const ROOT = join(import.meta.dirname, '..')
const NODE_ID = 'bench-node'
const TICKS = 100 // USER_HZ on Linux

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

interface Started {
  pid: number
  info: Record<string, number>
  stop(): void
}

async function startScript(script: string, args: string[], profile = false): Promise<Started> {
  // TUNNEL_CPU_PROF_DIR: a CPU profile of the measured child (written when it exits at its stdin's end).
  const prof = profile && process.env.TUNNEL_CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.TUNNEL_CPU_PROF_DIR] : []
  const child = spawn(process.execPath, ['--import', 'tsx', ...prof, script, ...args], {cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit']})
  const lines = createInterface({input: child.stdout})
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`${script} ${args[0]} exited (${code})`)))
  })
  return {
    info: JSON.parse(first) as Record<string, number>,
    pid: child.pid!,
    // The children exit when their stdin ends (so a profile is written); SIGTERM if they linger.
    stop: () => {
      child.stdin.end()
      setTimeout(() => child.kill(), 5000).unref()
    },
  }
}

async function loadWindow(send: () => Promise<void>, concurrency: number, ms: number): Promise<number> {
  let count = 0
  const until = performance.now() + ms
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      await send()
      count++
    }
  }

  await Promise.all(Array.from({length: concurrency}, worker))
  return count
}

const BODY = JSON.stringify({msg: 'hello', n: 12_345})

/** Per window, besides the measured process: the other processes' µs per request (the node child, this client). */
const others: Record<string, number[]> = {}

async function measure(pid: number, send: () => Promise<void>, rounds: number, seconds: number, concurrency: number, also: Record<string, number> = {}): Promise<number[]> {
  await loadWindow(send, concurrency, 3000)
  const perRequest: number[] = []
  for (let round = 0; round < rounds; round++) {
    const before = cpuTicks(pid)
    const alsoBefore = Object.fromEntries(Object.entries(also).map(([name, other]) => [name, cpuTicks(other)]))
    const count = await loadWindow(send, concurrency, seconds * 1000)
    const us = ((cpuTicks(pid) - before) * 1e6) / TICKS / count
    perRequest.push(us)
    let line = `round ${round}: ${count} requests, ${us.toFixed(1)} µs CPU per request`
    for (const [name, other] of Object.entries(also)) {
      const otherUs = ((cpuTicks(other) - alsoBefore[name]!) * 1e6) / TICKS / count
      ;(others[name] ??= []).push(otherUs)
      line += `, ${name} ${otherUs.toFixed(1)}`
    }

    process.stderr.write(line + '\n')
  }

  return perRequest
}

function httpSend(port: number, path: string, concurrency: number): {send: () => Promise<void>; pool: Pool} {
  const pool = new Pool(`http://127.0.0.1:${port}`, {connections: concurrency})
  const send = async (): Promise<void> => {
    const response = await pool.request({body: BODY, headers: {'content-type': 'application/json'}, method: 'POST', path})
    const text = await response.body.text()
    if (response.statusCode !== 200 || JSON.parse(text).n !== 12_345) throw new Error(`HTTP ${response.statusCode}: ${text}`)
  }

  return {pool, send}
}

/** Keys as makeTunnelKeys writes them (the files tunnel-child.ts reads), the node trusted. */
async function keysDir(): Promise<string> {
  const {AuthorizedKeysFile} = await loadTunnel()
  const dir = mkdtempSync(join(tmpdir(), 'tunnel-cpu-'))
  const made = await makeTunnelKeys(dir)
  await trustNode(made.knownNodesPath, NODE_ID, made.nodeHostPublicKey)
  await AuthorizedKeysFile.open(made.authorizedKeysPath)
  return dir
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length % 2 ? sorted[sorted.length >> 1]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2
}

async function main(): Promise<void> {
  const [mode, roundsArg, secondsArg, concurrencyArg, extra] = process.argv.slice(2)
  if (mode === 'bare-server') {
    const server = createServer({keepAliveTimeout: 60_000}, (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        res.writeHead(200, ['content-length', String(BODY.length), 'content-type', 'application/json'])
        res.end(BODY)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    process.stdout.write(JSON.stringify({port: (server.address() as AddressInfo).port}) + '\n')
    process.stdin.resume().on('end', () => process.exit(0))
    return
  }

  if (mode === 'library-load') {
    // The child of `library`: a gateway and the load loop in one process; prints its figures as JSON.
    const dir = roundsArg!
    const {loadPrivateKey, startTunnelGateway} = await loadTunnel()
    const gateway = await startTunnelGateway({identities: [await loadPrivateKey(join(dir, 'client_key'))], knownNodesPath: join(dir, 'known_hosts'), port: 0})
    process.stdout.write(JSON.stringify({gatewayPort: gateway.address.port}) + '\n')
    await gateway.waitForNode(NODE_ID, 20_000)
    const [rounds, seconds, concurrency] = JSON.parse(extra!) as number[]
    const send = async (): Promise<void> => {
      const {body} = await gateway.request(NODE_ID, 'POST', '/echo', {data: JSON.parse(BODY)})
      if ((body as {n: number}).n !== 12_345) throw new Error('bad echo')
    }

    const perRequest = await measure(process.pid, send, rounds!, seconds!, concurrency!)
    process.stdout.write(JSON.stringify(perRequest) + '\n')
    await gateway.close()
    process.exit(0)
  }

  const rounds = Number(roundsArg ?? 5)
  const seconds = Number(secondsArg ?? 3)
  const concurrency = Number(concurrencyArg ?? 64)
  const childRoot = process.env.TUNNEL_CPU_ROOT ?? ROOT
  const dir = await keysDir()
  const started: Started[] = []
  try {
    let perRequest: number[]
    if (mode === 'api') {
      const gateway = await startScript(join(childRoot, 'bench', 'tunnel-child.ts'), ['gateway', dir], true)
      started.push(gateway)
      const node = await startScript(join(childRoot, 'bench', 'tunnel-child.ts'), ['node', dir, NODE_ID, String(gateway.info.gatewayPort)])
      started.push(node)
      const {pool, send} = httpSend(gateway.info.httpPort!, `/nodes/${NODE_ID}/echo`, concurrency)
      perRequest = await measure(gateway.pid, send, rounds, seconds, concurrency, {client: process.pid, node: node.pid})
      await pool.close()
    } else if (mode === 'bare') {
      const bare = process.env.TUNNEL_CPU_BARE ? await startScript(process.env.TUNNEL_CPU_BARE, [], true) : await startScript(join(ROOT, 'bench', 'tunnel-cpu.ts'), ['bare-server'], true)
      started.push(bare)
      const {pool, send} = httpSend(bare.info.port!, '/echo', concurrency)
      perRequest = await measure(bare.pid, send, rounds, seconds, concurrency)
      await pool.close()
    } else if (mode === 'library') {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'tunnel-cpu.ts'), 'library-load', dir, '-', '-', JSON.stringify([rounds, seconds, concurrency])], {cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit']})
      const lines = createInterface({input: child.stdout})
      const iterator = lines[Symbol.asyncIterator]()
      const {gatewayPort} = JSON.parse((await iterator.next()).value as string) as {gatewayPort: number}
      started.push(await startScript(join(ROOT, 'bench', 'tunnel-child.ts'), ['node', dir, NODE_ID, String(gatewayPort)]))
      perRequest = JSON.parse((await iterator.next()).value as string) as number[]
    } else {
      throw new Error('usage: tunnel-cpu.ts api|library|bare [rounds] [seconds] [concurrency]')
    }

    const alsoMedians = Object.fromEntries(Object.entries(others).map(([name, values]) => [name, Number(median(values).toFixed(1))]))
    process.stdout.write(JSON.stringify({median: Number(median(perRequest).toFixed(1)), mode, perRequest: perRequest.map((x) => Number(x.toFixed(1))), root: childRoot, ...alsoMedians}) + '\n')
  } finally {
    for (const child of started) child.stop()
    rmSync(dir, {force: true, recursive: true})
  }
}

await main()
