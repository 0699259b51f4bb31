// A korv server on 127.0.0.1:0 with fresh keys, and raw SSH channels for sending arbitrary bytes.
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import ssh2 from 'ssh2'
import {GzipMemberDecoder, encodeGzipMember} from '../../src/core/framing/gzip-member.js'
import {generateSshKeyPair, writeSshKeyPair} from '../../src/core/keys/ssh-key-pair.js'
import {KorvClient, type KorvClientOptions} from '../../src/core/korv/client.js'
import {type KorvResponseMessage, parseKorvResponse} from '../../src/core/korv/messages.js'
import {type KorvServer, type KorvServerHandle, type KorvServerOptions, createKorvServer} from '../../src/core/korv/server.js'
import {AuthorizedKeysFile} from '../../src/core/ssh/authorized-keys.js'
import {type LoadedPrivateKey, loadPrivateKey} from '../../src/core/ssh/private-key.js'

/** The routes module the `korv call` command tests serve (GET /hello, STORE /echo answering 201, a 5 s GET /slow); its path. */
export async function writeCallTestRoutes(dir: string): Promise<string> {
  const routes = join(dir, 'routes.mjs')
  await writeFile(
    routes,
    `export default {
  'GET /hello': () => ({msg: 'hi'}),
  'STORE /echo': ({body}) => [201, body],
  'GET /slow': () => new Promise((resolve) => setTimeout(() => resolve({slow: true}), 5000)),
}
`,
  )
  return routes
}

export interface KorvKeys {
  dir: string
  hostKeyPath: string
  clientKey: LoadedPrivateKey
  clientKeyPath: string
  authorizedKeysPath: string
  knownHostsPath: string
}

export async function makeKorvKeys(dir: string): Promise<KorvKeys> {
  const host = await generateSshKeyPair({type: 'ed25519'})
  const client = await generateSshKeyPair({comment: 'test-client', type: 'ed25519'})
  const hostKeyPath = join(dir, 'host_key')
  const clientKeyPath = join(dir, 'client_key')
  await writeSshKeyPair(hostKeyPath, host, {force: true})
  await writeSshKeyPair(clientKeyPath, client, {force: true})
  const authorizedKeysPath = join(dir, 'authorized_keys')
  await writeFile(authorizedKeysPath, client.publicKey + '\n', {mode: 0o600})
  const knownHostsPath = join(dir, 'known_hosts')
  await writeFile(knownHostsPath, '', {mode: 0o600})
  return {authorizedKeysPath, clientKey: await loadPrivateKey(clientKeyPath), clientKeyPath, dir, hostKeyPath, knownHostsPath}
}

export interface RunningKorv {
  server: KorvServer
  handle: KorvServerHandle
  port: number
  keys: KorvKeys
  connect(options?: Partial<KorvClientOptions>): Promise<KorvClient>
}

export async function startKorv(
  keys: KorvKeys,
  options: Partial<KorvServerOptions> = {},
  setup: (server: KorvServer) => void = () => {},
): Promise<RunningKorv> {
  const hostKey = await loadPrivateKey(keys.hostKeyPath)
  const server = createKorvServer({
    authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
    hostKeys: [{privateKey: hostKey.privateKey}],
    port: 0,
    ...options,
  })
  setup(server)
  const handle = await server.start()
  const port = handle.address.port
  return {
    connect: (clientOptions = {}) =>
      KorvClient.connect({hostKeyPolicy: 'accept-new', identities: [keys.clientKey], knownHostsPath: keys.knownHostsPath, port, ...clientOptions}),
    handle,
    keys,
    port,
    server,
  }
}

/** A raw SSH connection with one korv channel: write any bytes, read decoded responses. */
export interface RawChannel {
  channel: ssh2.ClientChannel
  responses: KorvResponseMessage[]
  closed: Promise<void>
  /** Resolves once `count` responses have arrived. */
  waitFor(count: number): Promise<KorvResponseMessage[]>
  send(message: unknown): void
  end(): void
}

/** An authenticated ssh2 client (with an error listener for its whole life), for opening raw channels. */
export async function connectRaw(port: number, key: LoadedPrivateKey): Promise<ssh2.Client> {
  const client = new ssh2.Client()
  let settle: ((error?: Error) => void) | undefined
  client.on('error', (error) => settle?.(error))
  await new Promise<void>((resolve, reject) => {
    settle = (error) => {
      settle = undefined
      if (error) reject(error)
      else resolve()
    }
    client.once('ready', () => settle?.())
    client.connect({host: '127.0.0.1', port, privateKey: key.privateKey, username: 'raw'})
  })
  return client
}

export async function openRawChannel(port: number, key: LoadedPrivateKey, kind: 'gzip' | 'ndjson' = 'gzip', on?: ssh2.Client): Promise<RawChannel> {
  const client = on ?? (await connectRaw(port, key))
  const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => {
    const done = (error: Error | undefined, stream: ssh2.ClientChannel): void => (error ? reject(error) : resolve(stream))
    if (kind === 'gzip') client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, done)
    else client.subsys('korv', done)
  })
  channel.on('error', () => {})
  const responses: KorvResponseMessage[] = []
  const waiters: Array<() => void> = []
  const onPayload = (payload: Buffer): void => {
    const response = parseKorvResponse(payload)
    if (response) responses.push(response)
    for (const waiter of waiters.splice(0)) waiter()
  }

  if (kind === 'gzip') {
    const decoder = new GzipMemberDecoder({onError: () => {}, onMessage: onPayload})
    channel.on('data', (chunk: Buffer) => decoder.push(chunk))
  } else {
    let pending = ''
    channel.on('data', (chunk: Buffer) => {
      pending += chunk.toString()
      let newline
      while ((newline = pending.indexOf('\n')) !== -1) {
        onPayload(Buffer.from(pending.slice(0, newline)))
        pending = pending.slice(newline + 1)
      }
    })
  }

  let isClosed = false
  const closed = new Promise<void>((resolve) =>
    channel.on('close', () => {
      isClosed = true
      for (const waiter of waiters.splice(0)) waiter()
      resolve()
    }),
  )
  return {
    channel,
    closed,
    end: () => client.end(),
    responses,
    send(message) {
      const json = Buffer.from(JSON.stringify(message))
      channel.write(kind === 'gzip' ? encodeGzipMember(json) : Buffer.concat([json, Buffer.from('\n')]))
    },
    async waitFor(count) {
      while (responses.length < count && !isClosed) await new Promise<void>((resolve) => waiters.push(resolve))
      return responses
    },
  }
}
