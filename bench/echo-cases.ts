// The echo cases: one server child per transport, one client per (transport, concurrency), measured in
// rounds that rotate through the transports, so that noise from other processes on the machine (load
// that comes and goes) lands on all three alike instead of on whichever ran at a bad moment.
//
// Every server runs in a child process and every client in the bench process, the same arrangement for
// all three transports: on a 2-core machine client and server then each get a core, as they would across
// a real link, instead of one JS thread paying for both sides (which would add the server's CPU time to
// every request's latency and hide whether pipelining overlaps work on the two ends).
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import type {KorvKeys} from '../test/helpers/korv-fixture.js'
import {exited, spawnTracked, stopChild} from './children.js'
import {type EchoClient, connectHttp, connectKorv, connectTcp} from './clients.js'
import {type LoadResult, type WindowSamples, runWindow, summarize} from './load.js'
import {TRANSPORTS, type Transport} from './report.js'

const ROOT = join(import.meta.dirname, '..')
/** Later rounds only need the closed loop to fill again: the processes are already warm. */
const REWARM_MS = 200

export interface EchoSettings {
  transports: Transport[]
  concurrency: number[]
  warmupSeconds: number
  measureSeconds: number
  rounds: number
  profDir?: string
}

export interface ServerChild {
  port: number
  stop(): Promise<void>
}

const SERVER_KIND: Record<Transport, string> = {http: 'http', korv: 'korv', 'raw-tcp': 'tcp'}

export async function startServerChild(transport: Transport, keysDir: string, profDir: string | undefined): Promise<ServerChild> {
  // Plain node, no tsx: every server runs compiled code (korv from dist/), as users run it.
  const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []
  const child = spawnTracked(process.execPath, [...prof, join(ROOT, 'bench', 'echo-server.mjs'), SERVER_KIND[transport], keysDir], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({input: child.stdout!})
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    exited(child).then((code) => Promise.reject(new Error(`the ${transport} server exited (${code}) before listening`))),
  ])
  lines.close()
  const {port} = JSON.parse(first) as {port: number}
  return {
    port,
    async stop() {
      // Ending stdin lets the child close and exit by itself (and write its CPU profile).
      child.stdin!.end()
      const timer = setTimeout(() => void stopChild(child), 5000)
      await exited(child)
      clearTimeout(timer)
    },
  }
}

function connectClient(transport: Transport, port: number, concurrency: number, keys: KorvKeys): Promise<EchoClient> {
  if (transport === 'raw-tcp') return connectTcp(port)
  if (transport === 'http') return connectHttp(port, concurrency)
  return connectKorv(port, keys)
}

export async function runEchoCases(settings: EchoSettings, keys: KorvKeys): Promise<Array<LoadResult & {transport: Transport}>> {
  const servers = new Map<Transport, ServerChild>()
  const clients = new Map<string, EchoClient>()
  const windows = new Map<string, WindowSamples[]>()
  const key = (transport: Transport, concurrency: number): string => `${transport} c=${concurrency}`
  try {
    for (const transport of settings.transports) servers.set(transport, await startServerChild(transport, keys.dir, settings.profDir))
    for (const transport of settings.transports) {
      for (const concurrency of settings.concurrency) {
        clients.set(key(transport, concurrency), await connectClient(transport, servers.get(transport)!.port, concurrency, keys))
      }
    }

    const measureMs = (settings.measureSeconds * 1000) / settings.rounds
    for (let round = 0; round < settings.rounds; round++) {
      const order = settings.transports.map((_, i) => settings.transports[(i + round) % settings.transports.length]!)
      for (const concurrency of settings.concurrency) {
        for (const transport of order) {
          const warmupMs = round === 0 ? settings.warmupSeconds * 1000 : REWARM_MS
          const samples = await runWindow(clients.get(key(transport, concurrency))!.send, {concurrency, measureMs, warmupMs})
          windows.set(key(transport, concurrency), [...(windows.get(key(transport, concurrency)) ?? []), samples])
        }
      }

      process.stderr.write(`bench: round ${round + 1}/${settings.rounds} done\n`)
    }
  } finally {
    await Promise.all([...clients.values()].map((client) => client.close()))
    await Promise.all([...servers.values()].map((server) => server.stop()))
  }

  return TRANSPORTS.filter((t) => settings.transports.includes(t)).flatMap((transport) =>
    settings.concurrency.map((concurrency) => ({...summarize(concurrency, windows.get(key(transport, concurrency))!), transport})),
  )
}
