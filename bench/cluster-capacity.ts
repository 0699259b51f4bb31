// Figures for the capacity model in docs/cluster.md (run by hand: `npm run build`, then
// `node --import tsx bench/cluster-capacity.ts [NODES]`, default 500): two hubs in child processes on
// one nats-server; NODES pipe nodes (in this process) connect to hub A. Prints each hub's RSS with no
// nodes and with NODES (A holds them; B only knows them from NATS), and what NATS carried per second
// at rest, before and after (heartbeats; nodes' own heartbeats go to their hub, not through NATS).
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {setTimeout as sleep} from 'node:timers/promises'
import type {ChildProcess} from 'node:child_process'
import {makePipePki} from '../test/helpers/pipe-pki.js'
import {tool} from '../test/helpers/tools.js'
import {cleanup, exited, makeTempDir, spawnTracked} from './children.js'
import {loadPipe} from './dist.js'

const NODES = Number(process.argv[2] ?? 500)
const ROOT = join(import.meta.dirname, '..')
const rss = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1)

async function line(child: ChildProcess): Promise<Record<string, number>> {
  const lines = createInterface({input: child.stdout!})
  const first = await Promise.race([new Promise<string>((resolve) => lines.once('line', resolve)), exited(child).then(() => Promise.reject(new Error('child exited')))])
  lines.close()
  return JSON.parse(first) as Record<string, number>
}

async function natsRate(monitor: number, seconds: number): Promise<{msgs: number; bytes: number}> {
  const varz = async (): Promise<{in_msgs: number; in_bytes: number}> => (await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json()) as {in_msgs: number; in_bytes: number}
  const before = await varz()
  await sleep(seconds * 1000)
  const after = await varz()
  return {bytes: (after.in_bytes - before.in_bytes) / seconds, msgs: (after.in_msgs - before.in_msgs) / seconds}
}

const dir = makeTempDir('restwire-cluster-capacity-')
try {
  const pki = await makePipePki(join(dir, 'pki'))
  const names = Array.from({length: NODES}, (_, i) => `cap${i}`)
  for (let i = 0; i < NODES; i += 20) await Promise.all(names.slice(i, i + 20).map((name) => pki.addNode(name)))
  const [port, monitor] = [40_000 + Math.floor(Math.random() * 10_000), 50_000 + Math.floor(Math.random() * 10_000)]
  const nats = spawnTracked(tool('nats-server'), ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)], {stdio: 'ignore'})
  await sleep(1000)
  const hubs = ['hub-a', 'hub-b'].map((name) =>
    spawnTracked(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'cluster-child.ts'), pki.dir, `nats://127.0.0.1:${port}`, name], {cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit']}),
  )
  const [a, b] = [await line(hubs[0]!), await line(hubs[1]!)]
  await sleep(5000)
  const idle = {a: rss(a.pid!), b: rss(b.pid!), nats: await natsRate(monitor, 10)}
  const {connectPipeNode, createPipeHandler, loadPipeIdentity} = await loadPipe()
  const handler = createPipeHandler({})
  const nodes = await Promise.all(
    names.map(async (name) => {
      const node = connectPipeNode({handler, hubName: 'hub', identity: await loadPipeIdentity({dir: pki.dir, name}), to: {host: '127.0.0.1', port: a.port!}})
      await node.connected()
      return node
    }),
  )
  for (;;) {
    const listing = (await (await fetch(`http://127.0.0.1:${b.http}/nodes`)).json()) as {nodes: unknown[]}
    if (listing.nodes.length >= NODES) break
    await sleep(200)
  }

  await sleep(5000)
  const full = {a: rss(a.pid!), b: rss(b.pid!), nats: await natsRate(monitor, 10)}
  process.stdout.write(
    `${NODES} nodes on hub A (pipe default heartbeat 5 s)\n` +
      `hub A (holds them): RSS ${mib(idle.a)} → ${mib(full.a)} MiB: ${((full.a - idle.a) / NODES / 1024).toFixed(1)} KiB per node\n` +
      `hub B (knows them): RSS ${mib(idle.b)} → ${mib(full.b)} MiB: ${((full.b - idle.b) / NODES / 1024).toFixed(2)} KiB per node\n` +
      `NATS at rest, 2 hubs: ${idle.nats.msgs.toFixed(1)} msgs/s (${idle.nats.bytes.toFixed(0)} B/s) with no nodes, ` +
      `${full.nats.msgs.toFixed(1)} msgs/s (${full.nats.bytes.toFixed(0)} B/s) with ${NODES}\n`,
  )
  await Promise.all(nodes.map((node) => node.close()))
  for (const hub of hubs) hub.stdin!.end()
  await Promise.all(hubs.map((hub) => exited(hub)))
  nats.kill()
} finally {
  cleanup()
}
