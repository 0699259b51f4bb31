// Cold start: spawn-to-exit time of one `korv call GET /hello` against a running `korv serve --demo`
// (zero-config home in a temp dir), next to a bare `node -e 0` and to OpenSSH `ssh -W` making the same
// call. The three are interleaved round by round so that drift on the machine hits them alike.
import {existsSync, statSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'
import {GzipMemberDecoder, encodeGzipMember} from '../src/core/framing/gzip-member.js'
import {exited, listeningPort, makeTempDir, removeTempDir, spawnTracked, startupEnv, startupEnvRemoved, stopChild} from './children.js'
import {median} from './load.js'

export interface ColdStartResult {
  runs: number
  korvCallMs: number
  nodeMs: number
  sshMs: number
  /** Variables of this environment the runs went without (children.ts, STARTUP_ENV_REMOVED). */
  envRemoved: string[]
  samples: {korvCallMs: number[]; nodeMs: number[]; sshMs: number[]}
}

const ROOT = join(import.meta.dirname, '..')
const RUN_JS = join(ROOT, 'bin', 'run.js')
const SSH_TIMEOUT_MS = 10_000

export async function measureColdStart(runs: number): Promise<ColdStartResult> {
  await checkBuild()
  const home = makeTempDir('restwire-bench-home-')
  const env = startupEnv({RESTWIRE_HOME: home})
  const server = spawnTracked(process.execPath, [RUN_JS, 'korv', 'serve', '--demo', '--listen', '0', '--log-format', 'json'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  try {
    const port = await listeningPort(server.stderr!)
    const korvCall = (): Promise<number> => timeChild(process.execPath, [RUN_JS, 'korv', 'call', 'GET', '/hello', '--to', String(port)], env, 'Hello World!')
    const bareNode = (): Promise<number> => timeChild(process.execPath, ['-e', '0'], env)
    const sshCall = (): Promise<number> => timeSshCall(home, port)
    // Untimed first round: trusts the host key (zero-config), warms the page cache.
    await korvCall()
    await bareNode()
    await sshCall()
    const samples = {korvCallMs: [] as number[], nodeMs: [] as number[], sshMs: [] as number[]}
    for (let run = 0; run < runs; run++) {
      samples.nodeMs.push(await bareNode())
      samples.korvCallMs.push(await korvCall())
      samples.sshMs.push(await sshCall())
    }

    return {envRemoved: startupEnvRemoved(), korvCallMs: median(samples.korvCallMs), nodeMs: median(samples.nodeMs), runs, samples, sshMs: median(samples.sshMs)}
  } finally {
    await stopChild(server)
    removeTempDir(home)
  }
}

async function timeChild(command: string, args: string[], env: NodeJS.ProcessEnv, expect?: string): Promise<number> {
  const started = performance.now()
  const child = spawnTracked(command, args, {env, stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const code = await exited(child)
  const elapsed = performance.now() - started
  if (code !== 0 || (expect && !output.includes(expect))) throw new Error(`${command} ${args.join(' ')} failed (${code}):\n${output}`)
  return elapsed
}

/** `ssh -W` with one gzip member on stdin; closes stdin once one member has come back decoded. */
async function timeSshCall(home: string, port: number): Promise<number> {
  const args = [
    '-F', '/dev/null',
    '-i', join(home, 'id_ed25519'),
    '-o', `UserKnownHostsFile=${join(home, 'known_hosts')}`,
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-p', String(port),
    '-W', `127.0.0.1:${port}`,
    'korv@127.0.0.1',
  ]
  const request = encodeGzipMember(Buffer.from(JSON.stringify({body: null, id: 1, resource: '/hello', verb: 'GET'})))
  const started = performance.now()
  const child = spawnTracked('ssh', args, {stdio: ['pipe', 'pipe', 'pipe']})
  let stderr = ''
  let answer: {code?: number} | undefined
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const decoder = new GzipMemberDecoder({
    onError(error) {
      stderr += `\nunreadable answer: ${error.message}`
      child.kill('SIGKILL')
    },
    onMessage(payload) {
      answer ??= JSON.parse(payload.toString()) as {code?: number}
      child.stdin!.end()
    },
  })
  child.stdout!.on('data', (chunk: Buffer) => decoder.push(chunk))
  child.stdin!.on('error', () => {})
  child.stdin!.write(request)
  const timer = setTimeout(() => child.kill('SIGKILL'), SSH_TIMEOUT_MS)
  await exited(child)
  const elapsed = performance.now() - started
  clearTimeout(timer)
  if (answer?.code !== 200) throw new Error(`ssh -W call failed: ${JSON.stringify(answer)}\n${stderr}`)
  return elapsed
}

/** bin/run.js runs dist/: refuse a missing build and warn about a stale one (the bench never builds). */
async function checkBuild(): Promise<void> {
  const manifest = join(ROOT, 'oclif.manifest.json')
  if (!existsSync(join(ROOT, 'dist')) || !existsSync(manifest)) {
    throw new Error('dist/ is missing: run `npm run build` first')
  }

  const builtAt = statSync(manifest).mtimeMs
  const files = await readdir(join(ROOT, 'src'), {recursive: true})
  const stale = files.filter((file) => file.endsWith('.ts') && statSync(join(ROOT, 'src', file)).mtimeMs > builtAt)
  if (stale.length > 0) process.stderr.write(`bench: warning: dist/ is older than ${stale.length} file(s) in src/ (e.g. ${stale[0]}); run \`npm run build\`\n`)
}
