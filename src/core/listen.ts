// Binding a listening server (net, tls, http or ssh2's) with one error shape for every protocol.
import {RestwireError, errnoCode} from './errors.js'

interface Listenable {
  listen(port: number, host: string, callback: () => void): unknown
  once(event: 'error', listener: (error: Error) => void): unknown
  off(event: 'error', listener: (error: Error) => void): unknown
}

/** Resolves once `server` listens on host:port (0 picks a free port); RW_ERR_CONNECT when it cannot. */
export function listenOn(server: Listenable, host: string, port: number, what = 'connections'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      const reason = errnoCode(error) === 'EADDRINUSE' ? `port ${port} is already in use` : error.message
      reject(new RestwireError('RW_ERR_CONNECT', `cannot listen for ${what} on ${host}:${port}: ${reason}`, {
        cause: error,
        hint: 'Pick another port, or stop the other server.',
      }))
    }

    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}
