// An in-test TCP proxy that can "cut the network": it stops forwarding and freezes every connection
// without a FIN or RST, as a pulled cable or a dropped NAT mapping would.
import {type Server, type Socket, createConnection, createServer} from 'node:net'

export interface CuttableProxy {
  port: number
  /** Freezes every current connection: nothing more is forwarded either way, nothing is closed. */
  cut(): void
  close(): Promise<void>
}

export async function startCuttableProxy(target: {host: string; port: number}): Promise<CuttableProxy> {
  const pairs = new Set<[Socket, Socket]>()
  const server: Server = createServer((client) => {
    const upstream = createConnection(target)
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    client.pipe(upstream)
    upstream.pipe(client)
    const drop = (): void => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }

    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const frozen: Socket[] = []
  return {
    async close() {
      for (const socket of frozen) socket.destroy()
      for (const [a, b] of pairs) {
        a.destroy()
        b.destroy()
      }

      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
    cut() {
      for (const pair of pairs) {
        const [client, upstream] = pair
        client.unpipe(upstream)
        upstream.unpipe(client)
        // Stop reading: bytes pile up in kernel buffers, as on a dead link. Keep the sockets open.
        client.pause()
        upstream.pause()
        client.removeAllListeners('close')
        upstream.removeAllListeners('close')
        frozen.push(client, upstream)
        pairs.delete(pair)
      }
    },
    port: (server.address() as {port: number}).port,
  }
}
