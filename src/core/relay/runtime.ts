// A loaded config made executable: one RelayRoute per request, on undici dispatchers that this runtime
// owns. A route without redirects holds the keep-alive Pool of its origin (one per origin and `ca`)
// directly: no Agent lookup and no Agent-level drain events per request. A route that follows redirects
// goes through an Agent (a hop may lead to another origin): one trusting the global `ca` (or the system
// roots), one per distinct per-request `ca`. A reload builds a new runtime; the old one closes once its
// requests have finished.
import type {Dispatcher} from 'undici'
import type {RelayConfig, RelayTemplate} from './config.js'
import {useHeaderNames} from './exchange.js'
import {RelayRoute} from './relay-route.js'

const KEEP_ALIVE_MS = 30_000

export interface RelayRuntime {
  readonly config: RelayConfig
  readonly routes: ReadonlyMap<string, RelayRoute>
  /** A request accepted on this runtime, from its line until its reply (it may wait for a slot meanwhile). */
  retain(): void
  release(): void
  /** Replaced by a reload: closes once its last retained request is done. */
  retire(): void
  /** Closes the dispatchers it made, after their in-flight requests (a given dispatcher is left open). */
  close(): Promise<void>
}

/** `dispatcher`, when given, carries every request whose template has no `ca` of its own (tests, embedding). */
export async function buildRelayRuntime(config: RelayConfig, dispatcher?: Dispatcher): Promise<RelayRuntime> {
  const {Agent, Pool, interceptors, util} = await import('undici')
  useHeaderNames(util.headerNameToString)
  const owned: Dispatcher[] = []
  // Keyed by the PEM text ('' for the global `ca` or the system roots), then by origin for pools.
  const agents = new Map<string, Dispatcher>()
  const pools = new Map<string, Dispatcher>()
  const connectFor = (ca: string | undefined): {ca: string} | undefined => (ca === undefined ? undefined : {ca})
  const agentFor = (ca: string | undefined): Dispatcher => {
    let agent = agents.get(ca ?? '')
    if (!agent) {
      agent = new Agent({connect: connectFor(ca), keepAliveTimeout: KEEP_ALIVE_MS})
      agents.set(ca ?? '', agent)
      owned.push(agent)
    }

    return agent
  }

  const poolFor = (ca: string | undefined, origin: string): Dispatcher => {
    const key = `${ca ?? ''}\n${origin}`
    let pool = pools.get(key)
    if (!pool) {
      // What an Agent makes for an origin: a Pool with no cap on connections, the same options.
      pool = new Pool(origin, {connect: connectFor(ca), keepAliveTimeout: KEEP_ALIVE_MS})
      pools.set(key, pool)
      owned.push(pool)
    }

    return pool
  }

  const routes = new Map<string, RelayRoute>()
  for (const [name, template] of config.requests) {
    // A template's own `ca`, else the global one (or the system roots).
    const ca = template.ca ? template.ca.pem : config.ca?.pem
    let chosen: Dispatcher
    if (template.redirects > 0) {
      // undici follows no redirects unless asked to, per dispatcher. Every hop goes through the credential
      // filter (inside the redirect interceptor, which re-dispatches through it).
      const base = !template.ca && dispatcher ? dispatcher : agentFor(ca)
      chosen = base.compose(dropCredentialsOffOrigin(template), interceptors.redirect({maxRedirections: template.redirects}))
    } else {
      chosen = !template.ca && dispatcher ? dispatcher : poolFor(ca, template.origin)
    }

    routes.set(name, new RelayRoute(template, chosen))
  }

  let retained = 0
  let retired = false
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= Promise.all(owned.map((owner) => owner.close().catch(() => {}))).then(() => {})
    return closing
  }

  return {
    close,
    config,
    release() {
      retained--
      // A request that waited for a slot across a reload must still find its dispatcher open.
      if (retired && retained === 0) void close()
    },
    retain() {
      retained++
    },
    retire() {
      retired = true
      if (retained === 0) void close()
    },
    routes,
  }
}

/** Headers that carry credentials whoever set them (undici drops these three, but not the configured ones). */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization']

/**
 * A redirect to another origin must not carry the template's secrets (an API key header from the
 * environment, the auth header): every configured header and the credential headers are dropped on a
 * hop whose origin is not the template's; a same-origin hop keeps them.
 */
function dropCredentialsOffOrigin(template: RelayTemplate): Dispatcher.DispatcherComposeInterceptor {
  const dropped = new Set([...CREDENTIAL_HEADERS, ...Object.keys(template.headers)])
  return (dispatch) => (options, handler) => {
    if (originOf(options.origin) === template.origin) return dispatch(options, handler)
    return dispatch({...options, headers: withoutHeaders(options.headers, dropped)}, handler)
  }
}

function originOf(origin: string | URL | undefined): string | undefined {
  if (origin === undefined) return undefined
  try {
    return new URL(String(origin)).origin
  } catch {
    return undefined
  }
}

/** undici passes headers as an object, a flat [name, value, ...] list, or [name, value] pairs. */
function withoutHeaders(headers: Dispatcher.DispatchOptions['headers'], dropped: ReadonlySet<string>): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {}
  const keep = (name: string, value: unknown): void => {
    if (!dropped.has(name.toLowerCase()) && value !== undefined && value !== null) kept[name] = value as string | string[]
  }

  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) for (const [name, value] of headers as unknown as Array<[string, string]>) keep(name, value)
    else for (let index = 0; index < headers.length; index += 2) keep(String(headers[index]), headers[index + 1])
  } else if (headers && typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<[string, unknown]>) keep(name, value)
  } else if (headers && typeof headers === 'object') {
    for (const [name, value] of Object.entries(headers as Record<string, unknown>)) keep(name, value)
  }

  return kept
}
