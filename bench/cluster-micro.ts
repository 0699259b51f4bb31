// The crossing alone, steadier than the cluster case on a loaded machine: hub A, hub B (pipe, joined over
// NATS) and the node in this one process, nats-server beside it; `POST echo` events at c=64 through
// hubA.request to the node on hub B. Prints per window the CPU of this process and of nats-server (µs per
// event) and the NATS messages per event. For an A/B, run it on each build's dist/:
//   node --import tsx bench/cluster-micro.ts [ROOT of a checkout with dist/ built]   (MICRO_EVENTS, default 20000)
// MICRO_VIA=gateway: through hub A's HTTP gateway instead (an undici Pool of 64 connections in this process).
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {PipeHandlerFunction, PipeHubHandle} from '../src/core/pipe/index.js'
import {makePipePki} from '../test/helpers/pipe-pki.js'
import {startNatsServer} from '../test/helpers/nats-server.js'
import {Pool} from 'undici'
import {ROOT, importDist} from './dist.js'

const root = process.argv[2] ?? ROOT
const EVENTS = Number(process.env.MICRO_EVENTS ?? 20_000)
const WINDOWS = 3
const pipe = await importDist<typeof import('../src/core/pipe/index.js')>('core/pipe/index.js', root)
const {joinPipeCluster} = await importDist<typeof import('../src/core/cluster/pipe-cluster.js')>('core/cluster/pipe-cluster.js', root)

function ticks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

const dir = mkdtempSync(join(tmpdir(), 'restwire-cluster-micro-'))
const pki = await makePipePki(dir)
await pki.addNode('bench-node')
const nats = await startNatsServer({monitor: true})
const functions: Record<string, PipeHandlerFunction> = {post_echo: async (ctx) => ['application/json', 0, await ctx.read()]}
const hubs: Array<{hub: PipeHubHandle; close(): Promise<void>}> = []
for (const hubName of ['hub-a', 'hub-b']) {
  const cluster = await joinPipeCluster({hubName, name: 'micro', servers: [nats.url]})
  const hub = await pipe.startPipeHub({
    handler: pipe.createPipeHandler({functions}),
    identity: await pipe.loadPipeIdentity({dir: pki.dir, name: 'hub'}),
    port: 0,
    registry: (local) => cluster.registry(local),
  })
  hubs.push({close: async () => (await hub.close(), await cluster.close()), hub})
}

const node = pipe.connectPipeNode({
  handler: pipe.createPipeHandler({functions}),
  hubName: 'hub',
  identity: await pipe.loadPipeIdentity({dir: pki.dir, name: 'bench-node'}),
  to: {host: '127.0.0.1', port: hubs[1]!.hub.address.port},
})
await node.connected()
const body = Buffer.from(JSON.stringify({hello: 'world', n: 12_345}))
const viaGateway = process.env.MICRO_VIA === 'gateway'
const gateway = viaGateway ? await pipe.startPipeGateway({hub: hubs[0]!.hub, kind: 'hub'}, {port: 0, timeoutMs: 10_000}) : undefined
const pool = gateway ? new Pool(gateway.url, {connections: 64}) : undefined
const call = async (): Promise<void> => {
  if (pool) {
    const response = await pool.request({body, headers: {'content-type': 'application/json'}, method: 'POST', path: '/client/bench-node/echo'})
    const text = await response.body.text()
    if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${text}`)
    return
  }

  const reply = await hubs[0]!.hub.request('bench-node', {args: [], body, contentType: 'application/json', noun: 'echo', verb: 'POST'}, {timeoutMs: 10_000})
  await reply.read()
}

// Until hub A knows where the node is.
for (let tries = 0; ; tries++) {
  try {
    await call()
    break
  } catch (error) {
    if (tries > 100) throw error
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

// The first window warms up and is not printed.
for (let window = 0; window <= WINDOWS; window++) {
  const cpu = process.cpuUsage()
  const natsTicks = ticks(nats.pid())
  const msgs = await nats.inMsgs()
  let left = EVENTS
  await Promise.all(Array.from({length: 64}, async () => {
    while (left-- > 0) await call()
  }))
  const used = process.cpuUsage(cpu)
  // Clock ticks are 10 ms (USER_HZ 100).
  const natsUs = ((ticks(nats.pid()) - natsTicks) * 10_000) / EVENTS
  const perEvent = (await nats.inMsgs()) - msgs
  if (window > 0) process.stdout.write(`window ${window}: this process ${((used.user + used.system) / EVENTS).toFixed(1)} µs/event, nats-server ${natsUs.toFixed(1)} µs/event, NATS msgs/event ${(perEvent / EVENTS).toFixed(3)}\n`)
}

await pool?.close()
await gateway?.close()
await node.close()
for (const hub of hubs) await hub.close()
await nats.stop()
rmSync(dir, {force: true, recursive: true})
