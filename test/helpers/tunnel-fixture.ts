// Tunnel test helpers: keys for a gateway and nodes, a trusted known_nodes line, and a raw gateway
// (an ssh2 client on an accepted socket) for sending arbitrary bytes to a node, and a zero-config
// gateway with its HTTP API and one node, as the CLI's call commands see it.
import {readFile, writeFile} from 'node:fs/promises'
import {type AddressInfo, connect, createServer} from 'node:net'
import {join} from 'node:path'
import ssh2 from 'ssh2'
import {GzipMemberDecoder, encodeGzipMember} from '../../src/core/framing/gzip-member.js'
import {ensureServerIdentity, localPaths} from '../../src/core/home.js'
import {generateSshKeyPair, writeSshKeyPair} from '../../src/core/keys/ssh-key-pair.js'
import {type TunnelResponseMessage, parseTunnelResponse} from '../../src/core/tunnel/messages.js'
import {type LoadedPrivateKey, loadPrivateKey} from '../../src/core/ssh/private-key.js'
import {startTunnelHttpApi} from '../../src/core/tunnel/http-api.js'
import {AuthorizedKeysFile, type Router, exposeNode, startTunnelGateway} from '../../src/core/tunnel/index.js'
import {makeKorvKeys} from './korv-fixture.js'

export interface TunnelKeys {
  dir: string
  /** The gateway's SSH client key; listed in authorizedKeysPath. */
  gatewayKey: LoadedPrivateKey
  authorizedKeysPath: string
  /** A node host key and its public line. */
  nodeHostKey: LoadedPrivateKey
  nodeHostPublicKey: string
  /** Empty at first. */
  knownNodesPath: string
}

export async function makeTunnelKeys(dir: string): Promise<TunnelKeys> {
  const keys = await makeKorvKeys(dir)
  return {
    authorizedKeysPath: keys.authorizedKeysPath,
    dir,
    gatewayKey: keys.clientKey,
    knownNodesPath: keys.knownHostsPath,
    nodeHostKey: await loadPrivateKey(keys.hostKeyPath),
    nodeHostPublicKey: (await readFile(keys.hostKeyPath + '.pub', 'utf8')).trim(),
  }
}

/** Another node host key, written under dir. */
export async function makeNodeHostKey(dir: string, name: string): Promise<{key: LoadedPrivateKey; publicKey: string}> {
  const pair = await generateSshKeyPair({type: 'ed25519'})
  const path = join(dir, name)
  await writeSshKeyPair(path, pair, {force: true})
  return {key: await loadPrivateKey(path), publicKey: pair.publicKey.trim()}
}

/** Appends `<pattern> <type> <base64>` for a node's public key line. */
export async function trustNode(knownNodesPath: string, pattern: string, publicKey: string): Promise<void> {
  const [type, base64] = publicKey.split(' ')
  const existing = await readFile(knownNodesPath, 'utf8').catch(() => '')
  await writeFile(knownNodesPath, `${existing}${pattern} ${type} ${base64}\n`)
}

export interface RawTunnel {
  channel: ssh2.ClientChannel
  responses: TunnelResponseMessage[]
  waitFor(count: number): Promise<TunnelResponseMessage[]>
  closed: Promise<void>
  /** Another channel on the same SSH connection. */
  openAnother(): Promise<RawTunnel>
  end(): void
}

/** Listens on 127.0.0.1:0; the first node to dial in gets an SSH client and one raw tunnel channel. */
export async function startRawGateway(gatewayKey: LoadedPrivateKey): Promise<{port: number; tunnel: Promise<RawTunnel>; close(): void}> {
  let client: ssh2.Client | undefined
  let resolveTunnel!: (tunnel: RawTunnel) => void
  let rejectTunnel!: (error: Error) => void
  const tunnel = new Promise<RawTunnel>((resolve, reject) => {
    resolveTunnel = resolve
    rejectTunnel = reject
  })
  const server = createServer((socket) => {
    server.close()
    client = new ssh2.Client()
    client.once('error', rejectTunnel)
    const open = (): Promise<RawTunnel> =>
      new Promise((resolve, reject) =>
        client!.forwardOut('', 0, '', 0, (error, channel) => (error ? reject(error) : resolve(rawTunnel(channel, () => client!.end(), open)))),
      )
    client.once('ready', () => open().then(resolveTunnel, rejectTunnel))
    client.connect({privateKey: gatewayKey.privateKey, sock: socket, username: 'raw'})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    close: () => {
      server.close()
      client?.end()
    },
    port: (server.address() as AddressInfo).port,
    tunnel,
  }
}

function rawTunnel(channel: ssh2.ClientChannel, end: () => void, openAnother: () => Promise<RawTunnel>): RawTunnel {
  const responses: TunnelResponseMessage[] = []
  const waiters: Array<() => void> = []
  const wake = (): void => {
    for (const waiter of waiters.splice(0)) waiter()
  }

  const decoder = new GzipMemberDecoder({
    onError: () => {},
    onMessage: (payload) => {
      const response = parseTunnelResponse(payload)
      if (response) responses.push(response)
      wake()
    },
  })
  channel.on('data', (chunk: Buffer) => decoder.push(chunk))
  let isClosed = false
  const closed = new Promise<void>((resolve) =>
    channel.on('close', () => {
      isClosed = true
      wake()
      resolve()
    }),
  )
  return {
    channel,
    closed,
    end,
    openAnother,
    responses,
    async waitFor(count) {
      while (responses.length < count && !isClosed) await new Promise<void>((resolve) => waiters.push(resolve))
      return responses
    },
  }
}

export interface HostileNode {
  /** Resolves once the gateway has sent IDENTIFY (the node is registered soon after). */
  identified: Promise<void>
  close(): void
}

/**
 * A node that misbehaves on purpose, for gateway tests: dials `port`, is the SSH server there (any
 * gateway key accepted), answers IDENTIFY with `nodeId`, and hands every other request to `answer`,
 * whose `reply` writes one gzip member (a value as JSON, a string as raw JSON text) or a Buffer as is.
 * With `neverRead`, it stops reading the channel after IDENTIFY.
 */
export function startHostileNode(
  port: number,
  hostKey: LoadedPrivateKey,
  nodeId: string,
  answer: (request: {id: string; request_type: string; router: string | null}, reply: (payload: unknown) => void) => void,
  options: {neverRead?: boolean} = {},
): HostileNode {
  let identified!: () => void
  const ready = new Promise<void>((resolve) => (identified = resolve))
  const server = new ssh2.Server({hostKeys: [hostKey.privateKey], ident: 'restwire_hostile_0.1'}, (client) => {
    client.on('error', () => {})
    client.on('authentication', (context) => context.accept())
    client.on('ready', () =>
      client.on('tcpip', (accept) => {
        const channel = accept()
        channel.on('error', () => {})
        const reply = (payload: unknown): void => {
          if (Buffer.isBuffer(payload)) channel.write(payload)
          else channel.write(encodeGzipMember(typeof payload === 'string' ? payload : JSON.stringify(payload)))
        }

        const decoder = new GzipMemberDecoder({
          onError: () => {},
          onMessage: (payload) => {
            const request = JSON.parse(payload.toString()) as {id: string; request_type: string; router: string | null}
            if (request.request_type === 'IDENTIFY') {
              reply({id: `hostile-${request.id}`, request_id: request.id, response: {node_id: nodeId}, ssh_response_code: 200})
              identified()
              // Stops reading the gateway's requests: its SSH window closes once our buffer is full.
              if (options.neverRead) channel.pause()
            } else answer(request, reply)
          },
        })
        channel.on('data', (chunk: Buffer) => decoder.push(chunk))
      }),
    )
  })
  server.on('error', () => {})
  const socket = connect({host: '127.0.0.1', port})
  socket.on('error', () => {})
  socket.once('connect', () => server.injectSocket(socket))
  return {close: () => socket.destroy(), identified: ready}
}

export interface HomeTunnel {
  /** RESTWIRE_HOME for CLI children: its client key is the gateway's and is authorized on the node. */
  env: Record<string, string>
  /** The gateway's HTTP API, http://127.0.0.1:PORT. */
  api: string
  close(): Promise<void>
}

/**
 * A zero-config set-up as the CLI sees it: a restwire home, a gateway with its HTTP API on port 0, and
 * one node `nodeId` serving `router`, dialled in and registered.
 */
export async function startHomeTunnel(dir: string, nodeId: string, router: Router): Promise<HomeTunnel> {
  const paths = localPaths(join(dir, 'home'))
  await ensureServerIdentity(paths)
  const teardown: Array<() => unknown> = []
  const close = async (): Promise<void> => {
    for (const step of teardown.reverse()) await step()
  }

  try {
    const gateway = await startTunnelGateway({acceptNew: true, identities: [await loadPrivateKey(paths.clientKey)], knownNodesPath: join(dir, 'known_nodes'), port: 0})
    teardown.push(() => gateway.close())
    const http = await startTunnelHttpApi(gateway, {port: 0})
    teardown.push(() => http.close())
    const authorizedKeys = await AuthorizedKeysFile.open(paths.authorizedKeys)
    teardown.push(() => authorizedKeys.close())
    const node = exposeNode({authorizedKeys, hostKeys: [await loadPrivateKey(paths.hostKey)], nodeId, router, to: {host: '127.0.0.1', port: gateway.address.port}})
    teardown.push(() => node.close())
    await gateway.waitForNode(nodeId, 20_000)
    return {api: `http://127.0.0.1:${http.address.port}`, close, env: {RESTWIRE_HOME: paths.home}}
  } catch (error) {
    await close()
    throw error
  }
}
