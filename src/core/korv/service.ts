// Everything `korv serve` sets up around the server: identities (zero-config ones in the restwire home
// when no key flags are given), the request handler (routes module, HTTP upstream or demo) and limits.
import type {AddressInfo} from 'node:net'
import {ensureServerIdentity, localPaths} from '../home.js'
import {createHttpUpstream} from '../message/http-upstream.js'
import {loadRoutesModule} from '../message/routes-module.js'
import {AuthorizedKeysFile} from '../ssh/authorized-keys.js'
import {type LoadPrivateKeyOptions, loadPrivateKey} from '../ssh/private-key.js'
import {RestwireError} from '../errors.js'
import type {KorvRequestLog} from './channel-session.js'
import {addDemoRoutes} from './demo-routes.js'
import {httpMethodFor} from './messages.js'
import {type KorvServerEvent, createKorvServer} from './server.js'

export interface KorvServiceOptions {
  host?: string
  port?: number
  /** Host key files; none = the restwire home's host key, created on first run. */
  hostKeyPaths?: string[]
  /** authorized_keys file; none = the restwire home's, which authorizes the local client key. */
  authorizedKeysPath?: string
  home?: string
  /** Exactly one handler source. */
  routesPath?: string
  upstreamUrl?: string
  demo?: boolean
  maxMessageBytes?: number
  maxInFlight?: number
  handlerTimeoutMs?: number
  idleTimeoutMs?: number
  tracebacks?: boolean
  keyOptions?: LoadPrivateKeyOptions
  onRequest?: (entry: KorvRequestLog) => void
  onEvent?: (event: KorvServerEvent) => void
}

export interface KorvServiceHandle {
  address: AddressInfo
  hostKeys: Array<{path: string; fingerprint: string; type: string}>
  authorizedKeysPath: string
  /** Files made on this run (zero-config identities). */
  created: string[]
  routes: Array<{verb: string; path: string}>
  handlerSource: 'routes' | 'upstream' | 'demo'
  close(options?: {drainMs?: number}): Promise<void>
}

export async function startKorvService(options: KorvServiceOptions): Promise<KorvServiceHandle> {
  const sources = [options.routesPath, options.upstreamUrl, options.demo || undefined].filter((value) => value !== undefined)
  if (sources.length !== 1) {
    throw new RestwireError('RW_ERR_USAGE', 'say what answers requests: exactly one of --routes FILE, --upstream URL or --demo')
  }

  const paths = localPaths(options.home)
  const created: string[] = []
  if (!options.hostKeyPaths?.length || !options.authorizedKeysPath) created.push(...(await ensureServerIdentity(paths)).created)
  const hostKeyPaths = options.hostKeyPaths?.length ? options.hostKeyPaths : [paths.hostKey]
  const hostKeys = await Promise.all(hostKeyPaths.map((path) => loadPrivateKey(path, options.keyOptions)))
  const authorizedKeys = await AuthorizedKeysFile.open(options.authorizedKeysPath ?? paths.authorizedKeys)

  const upstream = options.upstreamUrl ? await createHttpUpstream({methodFor: httpMethodFor, url: options.upstreamUrl}) : undefined
  const server = createKorvServer({
    authorizedKeys,
    handler: upstream?.handler,
    handlerTimeoutMs: options.handlerTimeoutMs,
    host: options.host,
    idleTimeoutMs: options.idleTimeoutMs,
    hostKeys: hostKeys.map(({passphrase, privateKey}) => ({passphrase, privateKey})),
    maxInFlight: options.maxInFlight,
    maxMessageBytes: options.maxMessageBytes,
    onEvent: options.onEvent,
    onRequest: options.onRequest,
    port: options.port,
    tracebacks: options.tracebacks,
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

  return {
    address: handle.address,
    authorizedKeysPath: authorizedKeys.path,
    async close(closeOptions) {
      await handle.close(closeOptions)
      authorizedKeys.close()
      await upstream?.close()
    },
    created,
    handlerSource: options.routesPath ? 'routes' : options.upstreamUrl ? 'upstream' : 'demo',
    hostKeys: hostKeys.map(({fingerprint, path, type}) => ({fingerprint, path, type})),
    routes: server.router.routes().map(({path, verb}) => ({path, verb})),
  }
}
