// Everything `tunnel expose` sets up around exposeNode: identities (zero-config ones in the restwire
// home when no key flags are given) and the router (routes module, HTTP upstream or demo).
import {createHttpUpstream} from '../message/http-upstream.js'
import type {Handler} from '../message/request.js'
import {Router} from '../message/router.js'
import {loadRoutesModule} from '../message/routes-module.js'
import {type HandlerSourceOptions, type ServerIdentityOptions, loadServerIdentity, requireOneHandlerSource} from '../server-setup.js'
import {DEMO_NODE_ID, addTunnelDemoRoutes} from './demo-routes.js'
import {TUNNEL_ROUTE_VERBS, canonicalRequestType} from './messages.js'
import {type ExposeNodeOptions, type TunnelNodeHandle, exposeNode} from './node.js'
import {createUpstreamStreamHandler} from './upstream-stream.js'
import {withAsyncDispose} from '../dispose.js'

/** authorized_keys lists the gateways allowed in. */
export interface ExposeServiceOptions
  extends Pick<ExposeNodeOptions, 'to' | 'nodeId' | 'once' | 'backoff' | 'handlerTimeoutMs' | 'handshakeTimeoutMs' | 'maxInFlight' | 'tracebacks' | 'onEvent' | 'traffic'>,
    ServerIdentityOptions,
    HandlerSourceOptions {}

export interface ExposeServiceHandle extends AsyncDisposable {
  node: TunnelNodeHandle
  hostKeys: Array<{path: string; fingerprint: string}>
  authorizedKeysPath: string
  /** Files made on this run (zero-config identities). */
  created: string[]
  routes: Array<{verb: string; path: string}>
  handlerSource: 'routes' | 'upstream' | 'demo'
  /** Closes the node, the authorized_keys watcher and the upstream pool. Safe twice. */
  close(): Promise<void>
}

export async function startExposeService(options: ExposeServiceOptions): Promise<ExposeServiceHandle> {
  requireOneHandlerSource(options)
  const {authorizedKeys, created, hostKeys} = await loadServerIdentity(options)

  const router = new Router()
  // One pool for plain requests and streams, closed with the node. No body timeout: streams may idle;
  // plain requests are bounded by the handler timeout.
  const pool = options.upstreamUrl ? new (await import('undici')).Agent({bodyTimeout: 0, connections: 128, keepAliveTimeout: 30_000}) : undefined
  const upstream = options.upstreamUrl ? await createHttpUpstream({dispatcher: pool, methodFor: (verb) => verb, url: options.upstreamUrl}) : undefined
  if (upstream && pool) {
    const forward: Handler = async (request) => {
      const {body, status} = await upstream.handler(request)
      return [status, body]
    }

    for (const verb of ['GET', 'POST', 'PATCH', 'DELETE']) router.route(verb, '/*', forward)
    router.route('STREAM', '/*', createUpstreamStreamHandler({dispatcher: pool, url: options.upstreamUrl!}))
  }

  if (options.routesPath) await loadRoutesModule(options.routesPath, {route: (verb, path, handler) => router.route(routeVerb(verb), path, handler), router})
  if (options.demo) addTunnelDemoRoutes(router)

  let node: TunnelNodeHandle
  try {
    node = exposeNode({...options, authorizedKeys, nodeId: options.nodeId ?? (options.demo ? DEMO_NODE_ID : undefined), hostKeys: hostKeys.map(({passphrase, privateKey}) => ({passphrase, privateKey})), router})
  } catch (error) {
    authorizedKeys.close()
    await pool?.close()
    throw error
  }

  let closing: Promise<void> | undefined
  return withAsyncDispose<ExposeServiceHandle>({
    authorizedKeysPath: authorizedKeys.path,
    close: () =>
      (closing ??= (async () => {
        await node.close()
        authorizedKeys.close()
        await pool?.close()
      })()),
    created,
    handlerSource: options.routesPath ? 'routes' : options.upstreamUrl ? 'upstream' : 'demo',
    hostKeys: hostKeys.map(({fingerprint, path}) => ({fingerprint, path})),
    node,
    routes: router.routes().map(({path, verb}) => ({path, verb})),
  })
}

/** A routes module's verb as the tunnel's: UPDATE → PATCH; anything but GET/POST/PATCH/DELETE/STREAM refused. */
function routeVerb(verb: string): string {
  const canonical = canonicalRequestType(verb)
  if (!canonical || !(TUNNEL_ROUTE_VERBS as readonly string[]).includes(canonical)) {
    throw new Error(`unknown tunnel verb "${verb}"; use one of ${TUNNEL_ROUTE_VERBS.join(', ')}`)
  }

  return canonical
}
