// Real Node TLS peers for identity tests: a mutual-TLS server on 127.0.0.1:0 and one-shot client connections.
import {once} from 'node:events'
import {connect, createServer, type ConnectionOptions, type Server, type TLSSocket} from 'node:tls'

const TEST_TIMEOUT_MS = 10_000

export interface TlsPem {
  certificate: string
  privateKey: string
}

export interface TlsTestServer {
  server: Server
  port: number
  /** Resolves once a client's handshake has failed on the server with this error code; rejects after 10 s. */
  waitForClientError(code: string): Promise<void>
  close(): Promise<void>
}

export interface MutualTlsServerOptions {
  /**
   * False: let every client finish the handshake and greet a refused one with `refused <reason code>`
   * instead (Node's server hangs up on a refused client without saying why). Default true.
   */
  rejectUnauthorized?: boolean
}

/** A server that requires a client certificate from `ca` and greets each client with `hello <client CN>`. */
export async function startMutualTlsServer(identity: TlsPem, ca: string, options: MutualTlsServerOptions = {}): Promise<TlsTestServer> {
  const server = createServer({
    key: identity.privateKey,
    cert: identity.certificate,
    ca: [ca],
    requestCert: true,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  })
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => {})
    const greeting = socket.authorized
      ? `hello ${String(socket.getPeerCertificate().subject?.CN)}`
      : `refused ${String(socket.authorizationError)}`
    socket.end(greeting + '\n')
  })
  const clientErrorCodes: string[] = []
  server.on('tlsClientError', (error: Error & {code?: string}) => {
    clientErrorCodes.push(error.code ?? error.message)
    server.emit('restwire-test:client-error')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return {
    server,
    port: address.port,
    async waitForClientError(code) {
      const signal = AbortSignal.timeout(TEST_TIMEOUT_MS)
      while (!clientErrorCodes.includes(code)) {
        await once(server, 'restwire-test:client-error', {signal}).catch(() => {
          throw new Error(`no client error ${code} on the server; saw ${clientErrorCodes.join(', ') || 'none'}`)
        })
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

export interface TlsClientOutcome {
  /** The server's greeting when the handshake went through both ways. */
  greeting?: string
  /** The client's error code (or message), or `closed` when the server hung up without a greeting. */
  error?: string
}

/** Connects once with `options` (to 127.0.0.1:port) and reports whether the server greeted it. */
export function tryTlsClient(port: number, options: ConnectionOptions): Promise<TlsClientOutcome> {
  return new Promise((resolve) => {
    const socket = connect({host: '127.0.0.1', port, ...options})
    let data = ''
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({error: 'timeout'})
    }, TEST_TIMEOUT_MS)
    const finish = (outcome: TlsClientOutcome): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(outcome)
    }

    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      data += chunk
    })
    socket.on('end', () => finish(data ? {greeting: data.trim()} : {error: 'closed'}))
    socket.on('error', (error: Error & {code?: string}) => finish({error: error.code ?? error.message}))
    socket.on('close', () => finish(data ? {greeting: data.trim()} : {error: 'closed'}))
  })
}
