// `node --import tsx bench/korv-cpu.ts [ROOT...]`: CPU time per request of the korv echo server and of
// its client at c=64, for one or more builds: each ROOT is a checkout with dist/ built (default: this
// one). The server is ROOT's dist/ in a plain node child (bench/echo-server.mjs of this checkout); the
// client is ROOT's dist/ KorvClient in this process. Per closed-loop window: the server's utime + stime
// (/proc/PID/stat) and socket writes (/proc/PID/io syscw), and this process's CPU time and writes
// (process.cpuUsage: the client plus the load loop, the same for every ROOT), each divided by the
// requests answered, and the window's p50 latency. With two ROOTs the windows alternate A, B, A, B... so
// that load from other processes lands on both alike: the A/B comparison of a change.
// Environment: CPU_ROUNDS=6 CPU_SECONDS=2 CPU_CONCURRENCY=64 CPU_PROF_DIR=dir (profiles the servers)
// CPU_BASELINES=1 (the raw TCP and HTTP echo servers and clients of `npm run bench` in the rotation too).
// Linux only.
import {readFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {createInterface} from 'node:readline'
import {makeKorvKeys} from '../test/helpers/korv-fixture.js'
import {cleanup, exited, makeTempDir, spawnTracked, stopChild} from './children.js'
import {type EchoClient, connectHttp, connectKorv, connectTcp} from './clients.js'
import {loadKorv} from './dist.js'
import {median, percentile, runWindow} from './load.js'

/** utime and stime (clock ticks of 10 ms) of a process. */
function cpuTicks(pid: number): {user: number; system: number} {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return {system: Number(fields[12]), user: Number(fields[11])}
}

const writeCalls = (pid: number): number => Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN)

const clientMicros = (): {user: number; system: number} => process.cpuUsage()

interface Sample {
  usPerRequest: number
  /** Share of the server's CPU time spent in the kernel (stime). */
  systemShare: number
  clientUsPerRequest: number
  clientSystemShare: number
  rps: number
  writesPerRequest: number
  clientWritesPerRequest: number
  p50Ms: number
}

async function measure(roots: string[]): Promise<void> {
  const rounds = Number(process.env.CPU_ROUNDS ?? 6)
  const seconds = Number(process.env.CPU_SECONDS ?? 2)
  const concurrency = Number(process.env.CPU_CONCURRENCY ?? 64)
  const profDir = process.env.CPU_PROF_DIR
  const keys = await makeKorvKeys(makeTempDir('restwire-korv-cpu-'))
  const servers = []
  // CPU_BASELINES=1: the raw TCP and HTTP echo cases of `npm run bench` in the same rotation.
  const cases: Array<{label: string; args: string[]; connect(port: number): Promise<EchoClient>}> = [
    ...(process.env.CPU_BASELINES === '1'
      ? [
          {args: ['tcp'], connect: (port: number) => connectTcp(port), label: 'raw TCP NDJSON'},
          {args: ['http'], connect: (port: number) => connectHttp(port, concurrency), label: 'node:http + undici'},
        ]
      : []),
    ...roots.map((root) => ({args: ['korv', keys.dir, root], connect: async (port: number) => connectKorv(port, keys, await loadKorv(root)), label: `korv ${root}`})),
  ]
  for (const {args, connect, label} of cases) {
    const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []
    const child = spawnTracked(process.execPath, [...prof, join(import.meta.dirname, 'echo-server.mjs'), ...args], {stdio: ['pipe', 'pipe', 'inherit']})
    const line = await new Promise<string>((done) => createInterface({input: child.stdout!}).once('line', done))
    const {pid, port} = JSON.parse(line) as {pid: number; port: number}
    const client = await connect(port)
    await runWindow(client.send, {concurrency, measureMs: 1000, warmupMs: 1000})
    servers.push({child, client, label, pid, samples: [] as Sample[]})
  }

  for (let round = 0; round < rounds; round++) {
    for (const server of servers) {
      await runWindow(server.client.send, {concurrency, measureMs: 1, warmupMs: 200})
      const ticks = cpuTicks(server.pid)
      const writes = writeCalls(server.pid)
      const micros = clientMicros()
      const clientWrites = writeCalls(process.pid)
      const window = await runWindow(server.client.send, {concurrency, measureMs: seconds * 1000, warmupMs: 0})
      const requests = window.latencies.length
      const clientUsed = clientMicros()
      const after = cpuTicks(server.pid)
      const user = after.user - ticks.user
      const system = after.system - ticks.system
      server.samples.push({
        clientSystemShare: (clientUsed.system - micros.system) / (clientUsed.user + clientUsed.system - micros.user - micros.system),
        clientUsPerRequest: (clientUsed.user + clientUsed.system - micros.user - micros.system) / requests,
        p50Ms: percentile(window.latencies.sort((a, b) => a - b), 0.5),
        rps: requests / seconds,
        systemShare: system / (user + system),
        usPerRequest: ((user + system) * 10_000) / requests,
        writesPerRequest: (writeCalls(server.pid) - writes) / requests,
        clientWritesPerRequest: (writeCalls(process.pid) - clientWrites) / requests,
      })
    }
  }

  const list = (values: number[]): string => values.map((v) => v.toFixed(1)).join(' ')
  for (const server of servers) {
    const {samples} = server
    process.stdout.write(
      `${server.label} at c=${concurrency}: server CPU µs/request median ${median(samples.map((s) => s.usPerRequest)).toFixed(1)} (${list(samples.map((s) => s.usPerRequest))}), ` +
        `${Math.round(100 * median(samples.map((s) => s.systemShare)))}% of it in the kernel; ` +
        `client process CPU µs/request median ${median(samples.map((s) => s.clientUsPerRequest)).toFixed(1)} (${list(samples.map((s) => s.clientUsPerRequest))}), ` +
        `${Math.round(100 * median(samples.map((s) => s.clientSystemShare)))}% in the kernel; ` +
        `req/s median ${Math.round(median(samples.map((s) => s.rps)))}; p50 median ${median(samples.map((s) => s.p50Ms)).toFixed(3)} ms; ` +
        `socket writes/request: server ${median(samples.map((s) => s.writesPerRequest)).toFixed(3)}, client ${median(samples.map((s) => s.clientWritesPerRequest)).toFixed(3)}\n`,
    )
    await server.client.close()
    server.child.stdin!.end()
    const timer = setTimeout(() => void stopChild(server.child), 5000)
    await exited(server.child)
    clearTimeout(timer)
  }
}

const roots = process.argv.slice(2).map((root) => resolve(root))
await measure(roots.length > 0 ? roots : [join(import.meta.dirname, '..')])
cleanup()
