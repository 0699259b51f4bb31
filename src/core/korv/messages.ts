// korv messages (PROTOCOLS.md §1), carried one per gzip member (direct-tcpip) or one per line
// (the `korv` subsystem).
//
// Request, client → server:  {"id": <JSON scalar>, "verb": "GET", "resource": "/hello?x=1", "body": null}
// Response, server → client: {"id": <server id>, "request_id": <request id or 0>, "code": 200, "body": ...}

export type KorvId = string | number | boolean | null

export const KORV_VERBS = ['GET', 'STORE', 'UPDATE', 'DELETE'] as const
export type KorvVerb = (typeof KORV_VERBS)[number]

/** HTTP-style verbs restwire servers also accept, mapped to korv's. */
const VERB_ALIASES: Record<string, KorvVerb> = {
  DELETE: 'DELETE',
  GET: 'GET',
  PATCH: 'UPDATE',
  POST: 'STORE',
  PUT: 'UPDATE',
  STORE: 'STORE',
  UPDATE: 'UPDATE',
}

export interface KorvRequestMessage {
  id: KorvId
  verb: string
  resource: string
  body: unknown
}

export interface KorvResponseMessage {
  id: KorvId
  request_id: KorvId
  code: number
  body: unknown
}

export type ParsedKorvRequest =
  | {ok: true; request: KorvRequestMessage & {verb: KorvVerb}}
  | {ok: false; requestId: KorvId; error: string}

export function canonicalVerb(verb: string): KorvVerb | undefined {
  return VERB_ALIASES[verb.toUpperCase()]
}

const isScalar = (value: unknown): value is KorvId =>
  value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))

/** Validates one decoded payload; a failure carries the request id when it could be read, else 0. */
export function parseKorvRequest(payload: Buffer | string): ParsedKorvRequest {
  let message: unknown
  try {
    message = JSON.parse(payload.toString())
  } catch (error) {
    return {error: `message is not valid JSON: ${(error as Error).message}`, ok: false, requestId: 0}
  }

  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return {error: 'message is not a JSON object', ok: false, requestId: 0}
  }

  const {body, id, resource, verb} = message as Record<string, unknown>
  if (!('id' in message) || !isScalar(id)) return {error: 'missing or invalid "id" (a JSON scalar)', ok: false, requestId: 0}
  if (typeof verb !== 'string') return {error: 'missing "verb"', ok: false, requestId: id}
  const canonical = canonicalVerb(verb)
  if (!canonical) return {error: `unknown verb "${verb}"; use one of ${KORV_VERBS.join(', ')}`, ok: false, requestId: id}
  if (typeof resource !== 'string' || resource === '') return {error: 'missing "resource"', ok: false, requestId: id}
  return {ok: true, request: {body: body ?? null, id, resource, verb: canonical}}
}

/** Reads a response; undefined when the payload is not one (clients ignore such messages). */
export function parseKorvResponse(payload: Buffer | string): KorvResponseMessage | undefined {
  let message: unknown
  try {
    message = JSON.parse(payload.toString())
  } catch {
    return undefined
  }

  if (typeof message !== 'object' || message === null) return undefined
  const {body, code, id, request_id: requestId} = message as Record<string, unknown>
  if (!isScalar(requestId) || typeof code !== 'number' || !Number.isInteger(code)) return undefined
  return {body: body ?? null, code, id: isScalar(id) ? id : null, request_id: requestId}
}

const HTTP_METHOD: Record<KorvVerb, string> = {DELETE: 'DELETE', GET: 'GET', STORE: 'POST', UPDATE: 'PUT'}

/** The HTTP method a korv verb forwards as (`--upstream`). */
export function httpMethodFor(verb: string): string {
  return HTTP_METHOD[verb as KorvVerb] ?? verb
}
