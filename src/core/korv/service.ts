// Everything `korv serve` sets up around the server: identities (zero-config ones in the restwire home
// when no key flags are given), the request handler (routes module, HTTP upstream or demo) and limits.
import type {AddressInfo} from 'node:net'
import {createHttpUpstream} from '../message/http-upstream.js'
import {loadRoutesModule} from '../message/routes-module.js'
import {type HandlerSourceOptions, type ServerIdentityOptions, loadServerIdentity, requireOneHandlerSource} from '../server-setup.js'
import type {RequestHandler} from '../message/request.js'
import {addDemoRoutes} from './demo-routes.js'
import {httpMethodFor} from './messages.js'
import {type KorvConnectionStats, type KorvServerOptions, createKorvServer} from './server.js'
import {withAsyncDispose} from '../dispose.js'
import type {ConnectedClients} from '../observe/traffic.js'

/** The server's own options (see server.ts), minus the keys and handler that the service sets up. */
export interface KorvServiceOptions extends ServerIdentityOptions, HandlerSourceOptions, Omit<KorvServerOptions, 'authorizedKeys' | 'handler' | 'hostKeys'> {}

export interface KorvServiceHandle extends AsyncDisposable {
  address: AddressInfo
  hostKeys: Array<{path: string; fingerprint: string; type: string}>
  authorizedKeysPath: string
  /** Files made on this run (zero-config identities). */
  created: string[]
  routes: Array<{verb: string; path: string}>
  handlerSource: 'routes' | 'upstream' | 'demo'
  connectionStats(): KorvConnectionStats
  /** The authenticated connections now (at most `limit`) and their number, for the inspector. */
  clients(limit: number): ConnectedClients
  /** The handler every request goes through (the router, or the upstream's): the inspector replays through it. */
  handler: RequestHandler
  close(options?: {drainMs?: number}): Promise<void>
}

export async function startKorvService(options: KorvServiceOptions): Promise<KorvServiceHandle> {
  requireOneHandlerSource(options)
  const {authorizedKeys, created, hostKeys} = await loadServerIdentity(options)

  const upstream = options.upstreamUrl ? await createHttpUpstream({methodFor: httpMethodFor, url: options.upstreamUrl}) : undefined
  const server = createKorvServer({
    authorizedKeys,
    handler: upstream?.handler,
    handlerTimeoutMs: options.handlerTimeoutMs,
    host: options.host,
    idleTimeoutMs: options.idleTimeoutMs,
    loginGraceMs: options.loginGraceMs,
    maxChannels: options.maxChannels,
    maxPartialBytesPerConnection: options.maxPartialBytesPerConnection,
    maxPartialBytesTotal: options.maxPartialBytesTotal,
    maxStartups: options.maxStartups,
    hostKeys: hostKeys.map(({passphrase, privateKey}) => ({passphrase, privateKey})),
    maxInFlight: options.maxInFlight,
    maxMessageBytes: options.maxMessageBytes,
    onEvent: options.onEvent,
    onRequest: options.onRequest,
    port: options.port,
    tracebacks: options.tracebacks,
    traffic: options.traffic,
  })
  if (options.routesPath) await loadRoutesModule(options.routesPath, server)
  if (options.demo) addDemoRoutes(server.router)

  let handle
  try {
    handle = await server.start()
  } catch (error) {
    authorizedKeys.close()
    await upstream?.close()
    throw error
  }

  return withAsyncDispose<KorvServiceHandle>({
    address: handle.address,
    authorizedKeysPath: authorizedKeys.path,
    async close(closeOptions) {
      await handle.close(closeOptions)
      authorizedKeys.close()
      await upstream?.close()
    },
    clients: (limit) => handle.clients(limit),
    connectionStats: () => handle.connectionStats(),
    created,
    handler: upstream?.handler ?? server.router.handle,
    handlerSource: options.routesPath ? 'routes' : options.upstreamUrl ? 'upstream' : 'demo',
    hostKeys: hostKeys.map(({fingerprint, path, type}) => ({fingerprint, path, type})),
    routes: server.router.routes().map(({path, verb}) => ({path, verb})),
  })
}
