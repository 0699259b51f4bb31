// `korv call` start-up, cold and through a persisted connection (`--persist`), against `node -e 0` and
// OpenSSH `ssh -W` making the same call: spawn-to-exit time and peak RSS, the four interleaved run by
// run, medians. One `korv serve --demo` (built CLI, zero-config home in a temp dir); the cold calls use
// another user name, so they never find the persisted connection the others use. BENCH_ONLY=persist.
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {GzipMemberDecoder, encodeGzipMember} from '../src/core/framing/gzip-member.js'
import {exited, listeningPort, makeTempDir, removeTempDir, spawnTracked, startupEnv, startupEnvRemoved, stopChild, withoutNote} from './children.js'
import {median} from './load.js'

const ROOT = join(import.meta.dirname, '..')
const RUN_JS = join(ROOT, 'bin', 'run.js')
/** GNU time prints the peak RSS (KiB) of what it runs; without it, no RSS figures. */
const GNU_TIME = '/usr/bin/time'

export interface PersistBenchCase {
  ms: number
  rssMiB?: number
}

export interface PersistBenchResult {
  runs: number
  /** Variables of this environment the runs went without (children.ts, STARTUP_ENV_REMOVED). */
  envRemoved: string[]
  node: PersistBenchCase
  cold: PersistBenchCase
  persisted: PersistBenchCase
  ssh: PersistBenchCase
}

interface Sample {
  ms: number
  rssKiB?: number
}

export async function measurePersistedCalls(runs: number): Promise<PersistBenchResult> {
  const home = makeTempDir('restwire-bench-persist-')
  const env = startupEnv({RESTWIRE_HOME: home})
  const server = spawnTracked(process.execPath, [RUN_JS, 'korv', 'serve', '--demo', '--listen', '0', '--log-format', 'json'], {env, stdio: ['ignore', 'ignore', 'pipe']})
  const port = await listeningPort(server.stderr!)
  const call = (...extra: string[]): string[] => [process.execPath, RUN_JS, 'korv', 'call', 'GET', '/hello', '--to', String(port), ...extra]
  const cases = {
    cold: () => timed(call('--user', 'bench-cold'), env, 'Hello World!'),
    node: () => timed([process.execPath, '-e', '0'], env),
    persisted: () => timed(call(), env, 'Hello World!'),
    ssh: () => timedSsh(home, port),
  }
  try {
    // Untimed: trusts the host key (zero-config), starts the persisted connection, warms the page cache.
    await timed(call('--persist', '10m'), env, 'Hello World!')
    for (const run of Object.values(cases)) await run()
    const samples: Record<keyof typeof cases, Sample[]> = {cold: [], node: [], persisted: [], ssh: []}
    for (let run = 0; run < runs; run++) for (const [name, measure] of Object.entries(cases)) samples[name as keyof typeof cases].push(await measure())
    const summary = (list: Sample[]): PersistBenchCase => {
      const rss = list.flatMap((sample) => (sample.rssKiB === undefined ? [] : [sample.rssKiB]))
      return {ms: median(list.map((sample) => sample.ms)), rssMiB: rss.length > 0 ? median(rss) / 1024 : undefined}
    }

    return {cold: summary(samples.cold), envRemoved: startupEnvRemoved(), node: summary(samples.node), persisted: summary(samples.persisted), runs, ssh: summary(samples.ssh)}
  } finally {
    await timed(call('--persist', 'stop'), env).catch(() => {})
    await stopChild(server)
    removeTempDir(home)
  }
}

export function printPersistReport(result: PersistBenchResult): void {
  const row = (label: string, value: PersistBenchCase): string =>
    `${label.padEnd(38)}${value.ms.toFixed(1).padStart(8)} ms  ${(value.ms / result.node.ms).toFixed(2).padStart(5)}x node${value.rssMiB === undefined ? '' : `  peak RSS ${value.rssMiB.toFixed(1)} MiB`}`
  const lines = [
    '',
    `korv call start-up, median of ${result.runs} interleaved runs (spawn to exit)${withoutNote(result.envRemoved)}`,
    '',
    row('node -e 0', result.node),
    row('korv call GET /hello, cold', result.cold),
    row('korv call GET /hello, persisted', result.persisted),
    row('ssh -W (OpenSSH), same call', result.ssh),
    '',
    `cold / node -e 0: ${(result.cold.ms / result.node.ms).toFixed(2)}x (target <= 1.5x)   persisted / node -e 0: ${(result.persisted.ms / result.node.ms).toFixed(2)}x (target <= 1.2x)   persisted / ssh -W: ${(result.persisted.ms / result.ssh.ms).toFixed(2)}x`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

/** Spawn to exit of `argv`, under GNU time for its peak RSS when there is one. */
async function timed(argv: string[], env: NodeJS.ProcessEnv, expect?: string): Promise<Sample> {
  const withTime = existsSync(GNU_TIME)
  const [command, ...args] = withTime ? [GNU_TIME, '-f', 'rss-kib=%M', ...argv] : argv
  const started = performance.now()
  const child = spawnTracked(command!, args, {env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await exited(child)
  const ms = performance.now() - started
  if (code !== 0 || (expect && !stdout.includes(expect))) throw new Error(`${argv.join(' ')} failed (${code}):\n${stdout}${stderr}`)
  const rss = /rss-kib=(\d+)/.exec(stderr)
  return {ms, rssKiB: rss ? Number(rss[1]) : undefined}
}

/** `ssh -W` with one gzip member on stdin; stdin closed once one member has come back decoded. */
async function timedSsh(home: string, port: number): Promise<Sample> {
  const ssh = [
    'ssh', '-F', '/dev/null', '-i', join(home, 'id_ed25519'),
    '-o', `UserKnownHostsFile=${join(home, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=accept-new',
    '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-p', String(port), '-W', `127.0.0.1:${port}`, 'korv@127.0.0.1',
  ]
  const withTime = existsSync(GNU_TIME)
  const [command, ...args] = withTime ? [GNU_TIME, '-f', 'rss-kib=%M', ...ssh] : ssh
  const started = performance.now()
  const child = spawnTracked(command!, args, {stdio: ['pipe', 'pipe', 'pipe']})
  let stderr = ''
  let status: number | undefined
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const decoder = new GzipMemberDecoder({
    onError: () => child.kill('SIGKILL'),
    onMessage(payload) {
      status ??= (JSON.parse(payload.toString()) as {code?: number}).code
      child.stdin!.end()
    },
  })
  child.stdout!.on('data', (chunk: Buffer) => decoder.push(chunk))
  child.stdin!.on('error', () => {})
  child.stdin!.write(encodeGzipMember(Buffer.from(JSON.stringify({body: null, id: 1, resource: '/hello', verb: 'GET'}))))
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited(child)
  const ms = performance.now() - started
  clearTimeout(timer)
  if (status !== 200) throw new Error(`ssh -W call failed (${status}):\n${stderr}`)
  const rss = /rss-kib=(\d+)/.exec(stderr)
  return {ms, rssKiB: rss ? Number(rss[1]) : undefined}
}
