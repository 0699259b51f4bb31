// `node --import tsx bench/korv-cpu.ts [ROOT...]`: CPU time per request of the korv echo server and of
// its client at c=64, for one or more builds: each ROOT is a checkout with dist/ built (default: this
// one). The server is ROOT's dist/ in a plain node child (bench/echo-server.mjs of this checkout); the
// client is ROOT's dist/ KorvClient in this process. Per closed-loop window: the server's utime + stime
// (/proc/PID/stat) and socket writes (/proc/PID/io syscw), and this process's CPU time
// (process.cpuUsage: the client plus the load loop, the same for every ROOT), each divided by the
// requests answered, and the window's p50 latency. With two ROOTs the windows alternate A, B, A, B... so
// that load from other processes lands on both alike: the A/B comparison of a change.
// Environment: CPU_ROUNDS=6 CPU_SECONDS=2 CPU_CONCURRENCY=64 CPU_PROF_DIR=dir (profiles the servers).
// Linux only.
import {readFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {createInterface} from 'node:readline'
import {makeKorvKeys} from '../test/helpers/korv-fixture.js'
import {cleanup, exited, makeTempDir, spawnTracked, stopChild} from './children.js'
import {connectKorv} from './clients.js'
import {loadKorv} from './korv-dist.js'
import {median, percentile, runWindow} from './load.js'

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

const writeCalls = (pid: number): number => Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN)

const clientMicros = (): number => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

interface Sample {
  usPerRequest: number
  clientUsPerRequest: number
  rps: number
  writesPerRequest: number
  p50Ms: number
}

async function measure(roots: string[]): Promise<void> {
  const rounds = Number(process.env.CPU_ROUNDS ?? 6)
  const seconds = Number(process.env.CPU_SECONDS ?? 2)
  const concurrency = Number(process.env.CPU_CONCURRENCY ?? 64)
  const profDir = process.env.CPU_PROF_DIR
  const keys = await makeKorvKeys(makeTempDir('restwire-korv-cpu-'))
  const servers = []
  for (const root of roots) {
    const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []
    const child = spawnTracked(process.execPath, [...prof, join(import.meta.dirname, 'echo-server.mjs'), 'korv', keys.dir, root], {stdio: ['pipe', 'pipe', 'inherit']})
    const line = await new Promise<string>((done) => createInterface({input: child.stdout!}).once('line', done))
    const {pid, port} = JSON.parse(line) as {pid: number; port: number}
    const client = await connectKorv(port, keys, await loadKorv(root))
    await runWindow(client.send, {concurrency, measureMs: 1000, warmupMs: 1000})
    servers.push({child, client, pid, root, samples: [] as Sample[]})
  }

  for (let round = 0; round < rounds; round++) {
    for (const server of servers) {
      await runWindow(server.client.send, {concurrency, measureMs: 1, warmupMs: 200})
      const ticks = cpuTicks(server.pid)
      const writes = writeCalls(server.pid)
      const micros = clientMicros()
      const window = await runWindow(server.client.send, {concurrency, measureMs: seconds * 1000, warmupMs: 0})
      const requests = window.latencies.length
      server.samples.push({
        clientUsPerRequest: (clientMicros() - micros) / requests,
        p50Ms: percentile(window.latencies.sort((a, b) => a - b), 0.5),
        rps: requests / seconds,
        usPerRequest: ((cpuTicks(server.pid) - ticks) * 10_000) / requests,
        writesPerRequest: (writeCalls(server.pid) - writes) / requests,
      })
    }
  }

  const list = (values: number[]): string => values.map((v) => v.toFixed(1)).join(' ')
  for (const server of servers) {
    const {samples} = server
    process.stdout.write(
      `${server.root} at c=${concurrency}: server CPU µs/request median ${median(samples.map((s) => s.usPerRequest)).toFixed(1)} (${list(samples.map((s) => s.usPerRequest))}); ` +
        `client process CPU µs/request median ${median(samples.map((s) => s.clientUsPerRequest)).toFixed(1)} (${list(samples.map((s) => s.clientUsPerRequest))}); ` +
        `req/s median ${Math.round(median(samples.map((s) => s.rps)))}; p50 median ${median(samples.map((s) => s.p50Ms)).toFixed(3)} ms; ` +
        `server socket writes/request ${median(samples.map((s) => s.writesPerRequest)).toFixed(3)}\n`,
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
