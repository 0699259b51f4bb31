// The server side of the scale section in its own process, run from dist/ (what users run) with
// --expose-gc: `node --expose-gc --import tsx bench/scale-child.ts korv|pipe|tunnel <dir>`.
//   korv    createKorvServer with STORE /echo; keys as makeKorvKeys writes them     → {"pid","port"}
//   pipe    startPipeHub answering POST echo; the pipe PKI in <dir>                → {"pid","port"}
//   tunnel  startTunnelGateway + startTunnelHttpApi; keys as makeTunnelKeys writes  → {"pid","port","httpPort"}
// Then one command per stdin line, one JSON answer per line on stdout:
//   mem          GC twice, then {"rss","rssAnon","heapTotal","heapUsed","external","arrayBuffers"} in bytes
//   snap <path>  a heap snapshot written to <path>, then {"path"}
// Exits when stdin ends.
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {setTimeout as sleep} from 'node:timers/promises'
import {writeHeapSnapshot} from 'node:v8'

type KorvModule = typeof import('../src/core/korv/index.js')
type PipeModule = typeof import('../src/core/pipe/index.js')
type TunnelModule = typeof import('../src/core/tunnel/index.js')
const dist = async <T>(path: string): Promise<T> => (await import(new URL(`../dist/${path}`, import.meta.url).href)) as T

async function startKorvServer(dir: string): Promise<{info: object; close(): Promise<void>}> {
  const {AuthorizedKeysFile, createKorvServer, loadPrivateKey} = await dist<KorvModule>('core/korv/index.js')
  const hostKey = await loadPrivateKey(join(dir, 'host_key'))
  const server = createKorvServer({authorizedKeys: await AuthorizedKeysFile.open(join(dir, 'authorized_keys')), hostKeys: [{privateKey: hostKey.privateKey}], port: 0})
  server.route('STORE', '/echo', ({body}) => body)
  const handle = await server.start()
  return {close: () => handle.close({drainMs: 0}), info: {port: handle.address.port}}
}

async function startPipeHub(dir: string): Promise<{info: object; close(): Promise<void>}> {
  const pipe = await dist<PipeModule>('core/pipe/index.js')
  const handler = pipe.createPipeHandler({functions: {post_echo: async (ctx) => ['application/json', 0, await ctx.read()]}})
  const hub = await pipe.startPipeHub({handler, identity: await pipe.loadPipeIdentity({dir, name: 'hub'}), port: 0})
  return {close: () => hub.close(), info: {port: hub.address.port}}
}

async function startGateway(dir: string): Promise<{info: object; close(): Promise<void>}> {
  const {loadPrivateKey, startTunnelGateway, startTunnelHttpApi} = await dist<TunnelModule>('core/tunnel/index.js')
  const gateway = await startTunnelGateway({identities: [await loadPrivateKey(join(dir, 'client_key'))], knownNodesPath: join(dir, 'known_hosts'), port: 0})
  const api = await startTunnelHttpApi(gateway, {port: 0})
  return {
    async close() {
      await api.close()
      await gateway.close()
    },
    info: {httpPort: api.address.port, port: gateway.address.port},
  }
}

/** The anonymous part of the RSS (malloc, the V8 heap; not the binary's code pages), Linux only: else 0. */
async function rssAnon(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '')
  return Number(/^RssAnon:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024
}

async function memory(): Promise<object> {
  const gc = (globalThis as {gc?: () => void}).gc
  // Twice, with a turn between: the first pass frees what only weak or finalised objects held.
  gc?.()
  await sleep(50)
  gc?.()
  const {arrayBuffers, external, heapTotal, heapUsed, rss} = process.memoryUsage()
  return {arrayBuffers, external, gc: gc !== undefined, heapTotal, heapUsed, rss, rssAnon: await rssAnon()}
}

const [kind, dir] = process.argv.slice(2)
const start = kind === 'korv' ? startKorvServer : kind === 'pipe' ? startPipeHub : kind === 'tunnel' ? startGateway : undefined
if (!start || !dir) throw new Error('usage: scale-child.ts korv|pipe|tunnel DIR')
const running = await start(dir)
process.stdout.write(JSON.stringify({pid: process.pid, ...running.info}) + '\n')
const lines = createInterface({input: process.stdin})
lines.on('line', (line) => {
  const [command, argument] = line.split(' ')
  const answer = command === 'mem' ? memory() : command === 'snap' ? Promise.resolve({path: writeHeapSnapshot(argument)}) : Promise.resolve({error: `unknown command ${command}`})
  void answer.then((value) => process.stdout.write(JSON.stringify(value) + '\n'))
})
lines.on('close', () => {
  void running.close().finally(() => process.exit(0))
})
