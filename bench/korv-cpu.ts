// `node --import tsx bench/korv-cpu.ts [ROOT...]`: the korv echo server's CPU time per request at c=64
// (utime + stime from /proc/PID/stat over a closed-loop window, divided by the requests answered), for
// one or more builds: each ROOT is a checkout with dist/ built (default: this one). With two ROOTs the
// windows alternate A, B, A, B... on the same client, so that load from other processes lands on both
// alike: the A/B comparison of a change to the server. Also counts the server's socket writes per request
// (/proc/PID/io syscw). Environment: CPU_ROUNDS=6 CPU_SECONDS=2 CPU_CONCURRENCY=64 CPU_PROF_DIR=dir.
// Linux only.
import {readFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {createInterface} from 'node:readline'
import {makeKorvKeys} from '../test/helpers/korv-fixture.js'
import {cleanup, exited, makeTempDir, spawnTracked, stopChild} from './children.js'
import {connectKorv} from './clients.js'
import {median, runWindow} from './load.js'

type KorvModule = typeof import('../src/core/korv/index.js')

/** Child mode: `korv-cpu.ts serve ROOT KEYS_DIR` runs ROOT's dist/ korv server with STORE /echo. */
async function serve(root: string, keysDir: string): Promise<void> {
  const korv = (await import(join(root, 'dist', 'core', 'korv', 'index.js'))) as KorvModule
  const hostKey = await korv.loadPrivateKey(join(keysDir, 'host_key'))
  const server = korv.createKorvServer({authorizedKeys: await korv.AuthorizedKeysFile.open(join(keysDir, 'authorized_keys')), hostKeys: [{privateKey: hostKey.privateKey}], port: 0})
  server.route('STORE', '/echo', ({body}) => body)
  const handle = await server.start()
  process.stdout.write(JSON.stringify({pid: process.pid, port: handle.address.port}) + '\n')
  process.stdin.resume()
  process.stdin.on('end', () => void handle.close({drainMs: 0}).finally(() => process.exit(0)))
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

const writeCalls = (pid: number): number => Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN)

async function measure(roots: string[]): Promise<void> {
  const rounds = Number(process.env.CPU_ROUNDS ?? 6)
  const seconds = Number(process.env.CPU_SECONDS ?? 2)
  const concurrency = Number(process.env.CPU_CONCURRENCY ?? 64)
  const profDir = process.env.CPU_PROF_DIR
  const keys = await makeKorvKeys(makeTempDir('restwire-korv-cpu-'))
  const servers = []
  for (const root of roots) {
    const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []
    const child = spawnTracked(process.execPath, [...prof, '--import', 'tsx', import.meta.filename, 'serve', root, keys.dir], {stdio: ['pipe', 'pipe', 'inherit']})
    const line = await new Promise<string>((done) => createInterface({input: child.stdout!}).once('line', done))
    const {pid, port} = JSON.parse(line) as {pid: number; port: number}
    const client = await connectKorv(port, keys)
    await runWindow(client.send, {concurrency, measureMs: 1000, warmupMs: 1000})
    servers.push({child, client, pid, root, samples: [] as Array<{usPerRequest: number; rps: number; writesPerRequest: number}>})
  }

  for (let round = 0; round < rounds; round++) {
    for (const server of servers) {
      await runWindow(server.client.send, {concurrency, measureMs: 1, warmupMs: 200})
      const ticks = cpuTicks(server.pid)
      const writes = writeCalls(server.pid)
      const window = await runWindow(server.client.send, {concurrency, measureMs: seconds * 1000, warmupMs: 0})
      const requests = window.latencies.length
      server.samples.push({
        rps: requests / seconds,
        usPerRequest: ((cpuTicks(server.pid) - ticks) * 10_000) / requests,
        writesPerRequest: (writeCalls(server.pid) - writes) / requests,
      })
    }
  }

  for (const server of servers) {
    const usPerRequest = server.samples.map((s) => s.usPerRequest)
    process.stdout.write(
      `${server.root}: server CPU µs/request at c=${concurrency}: median ${median(usPerRequest).toFixed(1)} (${usPerRequest.map((v) => v.toFixed(1)).join(' ')}); ` +
        `req/s median ${Math.round(median(server.samples.map((s) => s.rps)))}; socket writes/request ${median(server.samples.map((s) => s.writesPerRequest)).toFixed(3)}\n`,
    )
    await server.client.close()
    server.child.stdin!.end()
    const timer = setTimeout(() => void stopChild(server.child), 5000)
    await exited(server.child)
    clearTimeout(timer)
  }
}

if (process.argv[2] === 'serve') await serve(process.argv[3]!, process.argv[4]!)
else {
  const roots = process.argv.slice(2).map((root) => resolve(root))
  await measure(roots.length > 0 ? roots : [join(import.meta.dirname, '..')])
  cleanup()
}
