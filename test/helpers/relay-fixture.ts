// Relay test fixtures: a real local HTTP(S) upstream with test routes, a throwaway CA and server
// certificate made with the openssl CLI, and a raw line client on a real socket.
import {execFile} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {type IncomingMessage, type ServerResponse, createServer as createHttpServer} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'
import {type AddressInfo, type Socket, connect} from 'node:net'
import {join} from 'node:path'
import type {RelayAddress} from '../../src/core/relay/address.js'
import {type RelayConfig, validateRelayConfig} from '../../src/core/relay/config.js'
import {tool} from './tools.js'

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

export interface Upstream {
  origin: string
  port: number
  /** Every request the upstream received, in arrival order. */
  seen: SeenRequest[]
  /** Requests to /hang whose client (the relay) went away before an answer. */
  abandoned: () => number
  /** Resolves when the next request to /hang arrives. */
  nextHang: () => Promise<void>
  close(): Promise<void>
}

/**
 * Test routes: /user/:id, /echo, /status/:n, /blob/:kib, /hang, /huge, /declared-huge, /flaky/:key (503 twice), /redirect,
 * /text, /slow/:ms, /deep (JSON nested 100,000 deep), /goto?to=URL (302 to URL: another origin).
 */
function handle(seen: SeenRequest[], state: {abandoned: number; hangWaiters: Array<() => void>; flaky: Map<string, number>}) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      seen.push({body, headers: request.headers, method: request.method!, url: request.url!})
      const url = new URL(request.url!, 'http://x')
      const send = (status: number, value: unknown, type = 'application/json'): void => {
        const text = type === 'application/json' ? JSON.stringify(value) : String(value)
        response.writeHead(status, {'content-length': Buffer.byteLength(text), 'content-type': type, 'x-upstream': 'test'})
        response.end(text)
      }

      const [, first, second] = url.pathname.split('/')
      if (first === 'user') return send(200, {id: decodeURIComponent(second!), method: request.method, query: Object.fromEntries(url.searchParams)})
      if (first === 'echo') return send(200, {body, contentType: request.headers['content-type'] ?? null, method: request.method})
      if (first === 'status') return send(Number(second), {status: Number(second)})
      if (first === 'text') return send(200, 'plain words', 'text/plain')
      if (first === 'blob') return send(200, {blob: 'b'.repeat(Number(second) * 1024)})
      if (first === 'slow') return void setTimeout(() => send(200, {slow: true}), Number(second))
      if (first === 'deep') return send(200, '['.repeat(100_000) + ']'.repeat(100_000), 'application/json; charset=utf-8')
      if (first === 'goto') {
        response.writeHead(302, {location: url.searchParams.get('to') ?? '/'})
        return void response.end()
      }

      if (first === 'redirect') {
        response.writeHead(302, {location: '/user/redirected'})
        return void response.end()
      }

      if (first === 'flaky') {
        const count = (state.flaky.get(second!) ?? 0) + 1
        state.flaky.set(second!, count)
        return count <= 2 ? send(503, {attempt: count}) : send(200, {attempt: count})
      }

      if (first === 'hang') {
        response.on('close', () => {
          if (!response.writableEnded) state.abandoned++
        })
        for (const waiter of state.hangWaiters.splice(0)) waiter()
        return
      }

      if (first === 'declared-huge') {
        response.writeHead(200, {'content-length': 50 * 1024 * 1024, 'content-type': 'application/octet-stream'})
        return void response.write(Buffer.alloc(1024))
      }

      if (first === 'huge') {
        // Chunked, no length: the relay must stop reading at its limit, not after 20 MiB.
        response.writeHead(200, {'content-type': 'application/octet-stream'})
        const block = Buffer.alloc(64 * 1024, 0x61)
        let sent = 0
        const pump = (): void => {
          while (sent < 20 * 1024 * 1024) {
            sent += block.length
            if (!response.write(block)) return void response.once('drain', pump)
          }

          response.end()
        }

        response.on('error', () => {})
        return pump()
      }

      send(404, {error: 'no such route'})
    })
  }
}

export async function startUpstream(tls?: {key: string; cert: string}): Promise<Upstream> {
  const seen: SeenRequest[] = []
  const state = {abandoned: 0, flaky: new Map<string, number>(), hangWaiters: [] as Array<() => void>}
  const server = tls ? createHttpsServer(tls, handle(seen, state)) : createHttpServer(handle(seen, state))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {
    abandoned: () => state.abandoned,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
    nextHang: () => new Promise((resolve) => state.hangWaiters.push(resolve)),
    origin: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    seen,
  }
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(tool('openssl'), args, {cwd, timeout: 30_000}, (error, _stdout, stderr) => (error ? reject(new Error(`openssl ${args[0]} failed: ${stderr}`)) : resolve()))
  })
}

/** A CA and a server certificate for 127.0.0.1, made by the openssl CLI in `dir` (guard with skipWithout('openssl')). */
export async function makeTestCa(dir: string): Promise<{caPath: string; key: string; cert: string}> {
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=restwire relay test CA'], dir)
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir)
  await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', writeExt(dir)], dir)
  return {caPath: join(dir, 'ca.pem'), cert: readFileSync(join(dir, 'server.pem'), 'utf8'), key: readFileSync(join(dir, 'server.key'), 'utf8')}
}

function writeExt(dir: string): string {
  const path = join(dir, 'server.ext')
  // subjectAltName: Node checks the IP against SANs, not the CN.
  writeFileSync(path, 'subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n')
  return path
}

export function relayConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): RelayConfig {
  return validateRelayConfig(raw, 'test config', {env, readCa: (path) => readFileSync(path, 'utf8')})
}

/** A raw line client on a real socket: every reply parsed and kept, waits for the ones a test needs. */
export class LineClient {
  readonly replies: Array<Record<string, unknown>> = []
  private pending = ''
  private waiters: Array<() => void> = []
  closed = false

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      this.pending += chunk
      let end: number
      while ((end = this.pending.indexOf('\n')) !== -1) {
        this.replies.push(JSON.parse(this.pending.slice(0, end)) as Record<string, unknown>)
        this.pending = this.pending.slice(end + 1)
      }

      for (const waiter of this.waiters.splice(0)) waiter()
    })
    socket.on('close', () => {
      this.closed = true
      for (const waiter of this.waiters.splice(0)) waiter()
    })
  }

  static connect(address: RelayAddress | string): Promise<LineClient> {
    const socket = typeof address === 'string' ? connect(address) : address.kind === 'unix' ? connect(address.path) : connect(address.port, address.host)
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(new LineClient(socket)))
      socket.once('error', reject)
    })
  }

  /** Writes raw text (add the line ending yourself) or an object as one "\n" line. */
  send(value: unknown): void {
    this.socket.write(typeof value === 'string' ? value : JSON.stringify(value) + '\n')
  }

  /** Waits until `count` replies match (default 1) and returns them. */
  async waitFor(match: (reply: Record<string, unknown>) => boolean, count = 1): Promise<Array<Record<string, unknown>>> {
    for (;;) {
      const found = this.replies.filter(match)
      if (found.length >= count) return found
      if (this.closed) throw new Error(`connection closed with ${found.length}/${count} matching replies: ${JSON.stringify(this.replies.slice(-5))}`)
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  /** The final reply (ok or error) for an id. */
  async final(id: unknown): Promise<Record<string, unknown>> {
    const [reply] = await this.waitFor((r) => r.status !== 'dispatched' && JSON.stringify(r.id) === JSON.stringify(id))
    return reply!
  }

  close(): void {
    this.socket.destroy()
  }
}
