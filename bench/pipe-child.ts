// One side of the pipe bench in its own process (exits when its stdin ends, so it dies with the bench):
//   hub <pkiDir> <port>        startPipeHub (port 0: free); prints {"pid","port"} once listening
//   node <pkiDir> <hubPort>    connectPipeNode as bench-node; prints {"pid"} once connected
//   raw-echo <pkiDir>          TLS server (same certificates) answering NDJSON lines with the parsed and
//                              re-encoded JSON: the baseline for small events; prints {"pid","port"}
//   raw-bulk <pkiDir>          TLS server that reads one line "N\n" and writes N bytes: the bulk baseline
// Both pipe sides answer POST echo (the body back) and GET bulk//N (N bytes, streamed).
import {type TLSSocket, createServer} from 'node:tls'
import type {PipeHandlerFunction} from '../src/core/pipe/index.js'
import {loadNdjson, loadPipe} from './dist.js'

const {connectPipeNode, createPipeHandler, loadPipeIdentity, startPipeHub} = await loadPipe()
const {NdjsonDecoder} = await loadNdjson()

const BENCH_NODE = 'bench-node'
const BLOCK = Buffer.alloc(1024 * 1024, 0x61)

/** N bytes as 1 MiB blocks (the sender splits them into frames). */
async function* bulkBytes(total: number): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += BLOCK.length) yield total - sent >= BLOCK.length ? BLOCK : BLOCK.subarray(0, total - sent)
}

const benchFunctions: Record<string, PipeHandlerFunction> = {
  get_bulk: (_ctx, _post, n) => ['application/octet-stream', 0, bulkBytes(Number(n))],
  post_echo: async (ctx) => ['application/json', 0, await ctx.read()],
}

async function startHub(pkiDir: string, port: number): Promise<() => Promise<void>> {
  const hub = await startPipeHub({handler: createPipeHandler({functions: benchFunctions}), identity: await loadPipeIdentity({dir: pkiDir, name: 'hub'}), port})
  process.stdout.write(JSON.stringify({pid: process.pid, port: hub.address.port}) + '\n')
  return () => hub.close()
}

async function startNode(pkiDir: string, hubPort: number): Promise<() => Promise<void>> {
  const node = connectPipeNode({
    handler: createPipeHandler({functions: benchFunctions}),
    hubName: 'hub',
    identity: await loadPipeIdentity({dir: pkiDir, name: BENCH_NODE}),
    to: {host: '127.0.0.1', port: hubPort},
  })
  await node.connected()
  process.stdout.write(JSON.stringify({pid: process.pid}) + '\n')
  return () => node.close()
}

async function startRaw(pkiDir: string, serve: (socket: TLSSocket) => void): Promise<() => Promise<void>> {
  const identity = await loadPipeIdentity({dir: pkiDir, name: 'hub'})
  const server = createServer({ca: identity.ca, cert: identity.cert, key: identity.key, noDelay: true, rejectUnauthorized: true, requestCert: true}, (socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => {})
    serve(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  process.stdout.write(JSON.stringify({pid: process.pid, port: (server.address() as {port: number}).port}) + '\n')
  return () => new Promise((resolve) => server.close(() => resolve()))
}

/** Answers each line with its JSON re-encoded; the answers of one read go out in one write, like the pipe's. */
function serveEcho(socket: TLSSocket): void {
  let out: string[] = []
  const decoder = new NdjsonDecoder({
    onError: () => socket.destroy(),
    onLine: (line) => out.push(JSON.stringify(JSON.parse(line.toString('utf8'))) + '\n'),
  })
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk)
    if (out.length > 0) {
      socket.write(out.join(''))
      out = []
    }
  })
}

function serveBulk(socket: TLSSocket): void {
  let line = ''
  socket.on('data', async function onData(chunk: Buffer) {
    line += chunk.toString()
    if (!line.includes('\n')) return
    socket.off('data', onData)
    for await (const block of bulkBytes(Number(line.trim()))) {
      if (!socket.write(block)) await new Promise((resolve) => socket.once('drain', resolve))
    }
  })
}

const [kind, pkiDir, port] = process.argv.slice(2)
if (!kind || !pkiDir) throw new Error('usage: pipe-child.ts hub|node|raw-echo|raw-bulk PKI_DIR [PORT]')
const close =
  kind === 'hub' ? await startHub(pkiDir, Number(port ?? 0))
  : kind === 'node' ? await startNode(pkiDir, Number(port))
  : await startRaw(pkiDir, kind === 'raw-echo' ? serveEcho : serveBulk)
process.stdin.resume()
process.stdin.on('end', () => {
  void close().finally(() => process.exit(0))
})
