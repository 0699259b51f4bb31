// The client side of each echo transport, as send(body) → echoed body.
import {connect as netConnect} from 'node:net'
import {Pool} from 'undici'
import type {KorvKeys} from '../test/helpers/korv-fixture.js'
import {type KorvModule, loadKorv} from './dist.js'
import {lineWriter, onLines} from './line-socket.mjs'
import type {SendEcho} from './load.js'

export interface EchoClient {
  send: SendEcho
  close(): Promise<void>
}

/** One socket, every request pipelined on it as an NDJSON line {"id", "body"}; answers matched by id. */
export async function connectTcp(port: number): Promise<EchoClient> {
  const socket = netConnect({host: '127.0.0.1', noDelay: true, port})
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const pending = new Map<number, (body: unknown) => void>()
  let nextId = 0
  const write = lineWriter(socket)
  onLines(socket, (line) => {
    const {body, id} = JSON.parse(line) as {id: number; body: unknown}
    const resolve = pending.get(id)
    pending.delete(id)
    resolve?.(body)
  })
  return {
    close: () => new Promise((resolve) => socket.end(resolve)),
    send: (body) =>
      new Promise((resolve) => {
        const id = ++nextId
        pending.set(id, resolve)
        write(JSON.stringify({body, id}))
      }),
  }
}

/** What users would pick instead: node:http on the server, an undici Pool with one keep-alive connection per worker. */
export async function connectHttp(port: number, concurrency: number): Promise<EchoClient> {
  const pool = new Pool(`http://127.0.0.1:${port}`, {connections: concurrency})
  return {
    close: () => pool.close(),
    async send(body) {
      const response = await pool.request({
        body: JSON.stringify(body),
        headers: {'content-type': 'application/json'},
        method: 'POST',
        path: '/echo',
      })
      if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`)
      return response.body.json()
    },
  }
}

/** One SSH connection, one korv channel, every request pipelined on it; the client from dist/ (dist.ts). */
export async function connectKorv(port: number, keys: KorvKeys, korv?: KorvModule): Promise<EchoClient> {
  const {KorvClient} = korv ?? (await loadKorv())
  const client = await KorvClient.connect({hostKeyPolicy: 'accept-new', identities: [keys.clientKey], knownHostsPath: keys.knownHostsPath, port})
  return {
    close: () => client.close(),
    async send(body) {
      const response = await client.request('STORE', '/echo', body)
      if (response.status !== 200) throw new Error(`korv ${response.status}: ${JSON.stringify(response.body)}`)
      return response.body
    },
  }
}
