// One echo server in its own process: `node --import tsx bench/server-child.ts tcp|http|korv [keysDir]`.
// Prints {"port": N} on stdout once listening; exits when its stdin ends (so it dies with the bench).
import {createServer as createHttpServer} from 'node:http'
import {type AddressInfo, createServer as createNetServer} from 'node:net'
import {join} from 'node:path'
import {loadPrivateKey} from '../src/core/ssh/private-key.js'
import {startKorv} from '../test/helpers/korv-fixture.js'
import {lineWriter, onLines} from './line-socket.js'

export type ServerKind = 'tcp' | 'http' | 'korv'

interface Running {
  port: number
  close(): Promise<void>
}

async function startTcp(): Promise<Running> {
  const server = createNetServer((socket) => {
    socket.setNoDelay(true)
    const write = lineWriter(socket)
    onLines(socket, (line) => {
      const {body, id} = JSON.parse(line) as {id: number; body: unknown}
      write(JSON.stringify({body, id}))
    })
    socket.on('error', () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {close: () => new Promise((resolve) => server.close(() => resolve())), port: (server.address() as AddressInfo).port}
}

async function startHttp(): Promise<Running> {
  const server = createHttpServer({keepAliveTimeout: 60_000}, (request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as unknown
      const json = JSON.stringify(body)
      response.writeHead(200, {'content-length': Buffer.byteLength(json), 'content-type': 'application/json'})
      response.end(json)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
    port: (server.address() as AddressInfo).port,
  }
}

async function startKorvEcho(keysDir: string): Promise<Running> {
  const clientKeyPath = join(keysDir, 'client_key')
  const keys = {
    authorizedKeysPath: join(keysDir, 'authorized_keys'),
    clientKey: await loadPrivateKey(clientKeyPath),
    clientKeyPath,
    dir: keysDir,
    hostKeyPath: join(keysDir, 'host_key'),
    knownHostsPath: join(keysDir, 'known_hosts'),
  }
  const korv = await startKorv(keys, {}, (server) => server.route('STORE', '/echo', ({body}) => body))
  return {close: () => korv.handle.close({drainMs: 0}), port: korv.port}
}

const kind = process.argv[2] as ServerKind
const running = kind === 'tcp' ? await startTcp() : kind === 'http' ? await startHttp() : await startKorvEcho(process.argv[3]!)
process.stdout.write(JSON.stringify({pid: process.pid, port: running.port}) + '\n')
process.stdin.resume()
process.stdin.on('end', () => {
  void running.close().finally(() => process.exit(0))
})
