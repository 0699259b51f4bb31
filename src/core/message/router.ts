// Verb + path routing with `:param` segments and a trailing `*` wildcard; 404 and 405 answers.
import {type Handler, type RequestHandler, type RwRequest, type RwResponse, toResponse} from './request.js'

export type RouteMatch =
  | {kind: 'found'; handler: Handler; params: Record<string, string>; pattern: string}
  | {kind: 'method-not-allowed'; allowed: string[]}
  | {kind: 'not-found'}

interface Route {
  pattern: string
  segments: string[]
  handlers: Map<string, Handler>
}

export interface RouteDefinition {
  verb: string
  path: string
  handler: Handler
}

export class Router {
  private readonly exact = new Map<string, Route>()
  private readonly patterned: Route[] = []

  /** Adds a route; `verb` is the protocol's canonical verb (upper case). */
  route(verb: string, pattern: string, handler: Handler): this {
    const normalized = normalizePath(pattern)
    const isPattern = normalized.split('/').some((segment) => segment.startsWith(':') || segment === '*')
    let route = isPattern ? this.patterned.find((r) => r.pattern === normalized) : this.exact.get(normalized)
    if (!route) {
      route = {handlers: new Map(), pattern: normalized, segments: normalized.split('/')}
      if (isPattern) this.patterned.push(route)
      else this.exact.set(normalized, route)
    }

    route.handlers.set(verb.toUpperCase(), handler)
    return this
  }

  match(verb: string, rawPath: string): RouteMatch {
    const path = normalizePath(rawPath)
    const exact = this.exact.get(path)
    if (exact) return pick(exact, verb, {})
    const segments = path.split('/')
    let allowed: string[] | undefined
    for (const route of this.patterned) {
      const params = matchSegments(route.segments, segments)
      if (!params) continue
      const found = pick(route, verb, params)
      if (found.kind === 'found') return found
      if (found.kind === 'method-not-allowed') allowed = [...new Set([...(allowed ?? []), ...found.allowed])]
    }

    return allowed ? {allowed, kind: 'method-not-allowed'} : {kind: 'not-found'}
  }

  /** Every route, for listings and docs. */
  routes(): RouteDefinition[] {
    return [...this.exact.values(), ...this.patterned].flatMap((route) =>
      [...route.handlers].map(([verb, handler]) => ({handler, path: route.pattern, verb})),
    )
  }

  /** The router as a request handler: runs the matched handler or answers 404/405. */
  readonly handle: RequestHandler = (request: RwRequest): RwResponse | Promise<RwResponse> => {
    const found = this.match(request.verb, request.path)
    if (found.kind === 'not-found') return {body: {error: 'no such resource', resource: request.path}, status: 404}
    if (found.kind === 'method-not-allowed') {
      return {body: {allowed: found.allowed, error: `${request.verb} is not allowed on ${request.path}`}, status: 405}
    }

    request.params = found.params
    request.route = found.pattern
    const result = found.handler(request)
    return result instanceof Promise ? result.then(toResponse) : toResponse(result)
  }
}

function pick(route: Route, verb: string, params: Record<string, string>): RouteMatch {
  const handler = route.handlers.get(verb)
  if (handler) return {handler, kind: 'found', params, pattern: route.pattern}
  return {allowed: [...route.handlers.keys()], kind: 'method-not-allowed'}
}

function matchSegments(pattern: string[], path: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {}
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!
    if (want === '*' && i === pattern.length - 1) {
      params['*'] = path.slice(i).map(decodeSegment).join('/')
      return params
    }

    const got = path[i]
    if (got === undefined) return undefined
    if (want.startsWith(':')) {
      if (got === '') return undefined
      params[want.slice(1)] = decodeSegment(got)
    } else if (want !== got) return undefined
  }

  return pattern.length === path.length ? params : undefined
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/** `/a/b/` → `/a/b`; `a` → `/a`; `` → `/`. */
export function normalizePath(path: string): string {
  let normalized = path.startsWith('/') ? path : '/' + path
  while (normalized.length > 1 && normalized.endsWith('/')) normalized = normalized.slice(0, -1)
  return normalized
}
