// One echo server in its own process, plain JavaScript run by plain node (no tsx, no loader), so that
// every transport runs compiled code, as users run it:
//   node bench/echo-server.mjs tcp|http
//   node bench/echo-server.mjs korv KEYS_DIR [ROOT]
// korv is the library from ROOT's dist/ (default: this checkout's; `npm run build` first). Prints
// {"pid", "port"} on stdout once listening; exits when its stdin ends (so it dies with the bench).
import {createServer as createHttpServer} from 'node:http'
import {createServer as createNetServer} from 'node:net'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {lineWriter, onLines} from './line-socket.mjs'

/** NDJSON lines {"id", "body"} on node:net, answered with the same line. */
async function startTcp() {
  const server = createNetServer((socket) => {
    socket.setNoDelay(true)
    const write = lineWriter(socket)
    onLines(socket, (line) => {
      const {body, id} = JSON.parse(line)
      write(JSON.stringify({body, id}))
    })
    socket.on('error', () => socket.destroy())
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {close: () => new Promise((resolve) => server.close(() => resolve())), port: server.address().port}
}

/** node:http, POST /echo: parses the body and answers it. */
async function startHttp() {
  const server = createHttpServer({keepAliveTimeout: 60_000}, (request, response) => {
    const chunks = []
    request.on('data', (chunk) => chunks.push(chunk))
    request.on('end', () => {
      const json = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString()))
      response.writeHead(200, {'content-length': Buffer.byteLength(json), 'content-type': 'application/json'})
      response.end(json)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
    port: server.address().port,
  }
}

/** KorvServer from ROOT/dist with STORE /echo answering the body it was given. */
async function startKorvEcho(keysDir, root) {
  const url = pathToFileURL(join(root, 'dist', 'core', 'korv', 'index.js')).href
  const korv = await import(url).catch((error) => {
    throw new Error(`cannot load ${url}: run \`npm run build\` first (${error.message})`)
  })
  const hostKey = await korv.loadPrivateKey(join(keysDir, 'host_key'))
  const server = korv.createKorvServer({
    authorizedKeys: await korv.AuthorizedKeysFile.open(join(keysDir, 'authorized_keys')),
    hostKeys: [{privateKey: hostKey.privateKey}],
    port: 0,
  })
  server.route('STORE', '/echo', ({body}) => body)
  const handle = await server.start()
  return {close: () => handle.close({drainMs: 0}), port: handle.address.port}
}

const kind = process.argv[2]
const running =
  kind === 'tcp'
    ? await startTcp()
    : kind === 'http'
      ? await startHttp()
      : kind === 'korv'
        ? await startKorvEcho(process.argv[3], process.argv[4] ?? join(import.meta.dirname, '..'))
        : undefined
if (!running) throw new Error(`usage: node bench/echo-server.mjs tcp|http|korv KEYS_DIR [ROOT] (got ${kind})`)
process.stdout.write(JSON.stringify({pid: process.pid, port: running.port}) + '\n')
process.stdin.resume()
process.stdin.on('end', () => {
  void running.close().finally(() => process.exit(0))
})
