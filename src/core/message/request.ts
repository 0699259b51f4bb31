// The request/response model every protocol maps its wire messages onto.

export type Query = Record<string, string | string[]>

export interface RwRequest {
  /** Canonical verb of the protocol (korv: GET, STORE, UPDATE, DELETE). */
  verb: string
  /** Resource as sent: path plus optional `?query`. */
  resource: string
  /** Path without the query, percent-decoding left to the router. */
  path: string
  query: Query
  /** Route parameters (`/users/:id` → `{id}`), filled in by the router. */
  params: Record<string, string>
  /** The pattern of the route that matched (`/users/:id`), set by the router: a bounded metrics label. */
  route?: string
  body: unknown
  /** Who sent it, for handlers and logs. */
  client: {fingerprint?: string; address?: string; user?: string}
  /** Aborted when the handler timed out or the client went away. */
  signal: AbortSignal
}

export interface RwResponse {
  status: number
  body: unknown
}

/**
 * What a handler may return: `[status, body]`, or a body alone (status 200). A two-element array
 * whose first element is an integer status (100-599) is read as `[status, body]`; to return such an
 * array as a body, wrap it: `[200, [404, 'x']]`.
 */
export type HandlerResult = unknown
export type Handler = (request: RwRequest) => HandlerResult | Promise<HandlerResult>
export type RequestHandler = (request: RwRequest) => RwResponse | Promise<RwResponse>

export function splitResource(resource: string): {path: string; query: Query} {
  const mark = resource.indexOf('?')
  if (mark === -1) return {path: resource, query: {}}
  return {path: resource.slice(0, mark), query: parseQuery(resource.slice(mark + 1))}
}

export function parseQuery(search: string): Query {
  const query: Query = {}
  for (const [key, value] of new URLSearchParams(search)) {
    const existing = query[key]
    if (existing === undefined) query[key] = value
    else if (Array.isArray(existing)) existing.push(value)
    else query[key] = [existing, value]
  }

  return query
}

export function toResponse(result: HandlerResult): RwResponse {
  if (Array.isArray(result) && result.length === 2 && Number.isInteger(result[0]) && result[0] >= 100 && result[0] <= 599) {
    return {status: result[0] as number, body: result[1] ?? null}
  }

  return {status: 200, body: result === undefined ? null : result}
}
