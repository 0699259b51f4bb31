// The relay's configuration: which named HTTP requests clients may make. Validated in full at load (every
// problem reported with the request and field it is in), secrets resolved from the environment, URL
// templates compiled, so that serving a request does no parsing of the template.
import {DURATION_FORMS, parseDuration} from '../duration.js'
import {RestwireError} from '../errors.js'
import {fileErrorReason} from '../fs-errors.js'
import {type CompiledTemplate, compileTemplate} from './url-template.js'

export const RELAY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const
export type RelayMethod = (typeof RELAY_METHODS)[number]
/** Methods that are safe to repeat: only these may have retries. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'])

export const DEFAULT_RELAY_TIMEOUT_MS = 30_000
export const DEFAULT_RELAY_MAX_CONCURRENCY = 256
/** Upstream requests of one connection at once: bounds the replies in flight toward a client that stops reading. */
export const DEFAULT_RELAY_MAX_CONCURRENCY_PER_CONNECTION = 64
export const DEFAULT_RELAY_MAX_RESPONSE_BYTES = 1024 * 1024
export const DEFAULT_RELAY_MAX_LINE_BYTES = 1024 * 1024
export const DEFAULT_RETRY_BACKOFF_MS = 100

export interface RelayTemplate {
  readonly name: string
  readonly method: RelayMethod
  /** The URL template as written in the config. */
  readonly url: string
  /** scheme://host:port: fixed, so a client can never choose the host. */
  readonly origin: string
  readonly path: CompiledTemplate
  readonly query: ReadonlyArray<readonly [string, CompiledTemplate]>
  /** Every placeholder in path and query, once each. */
  readonly placeholders: readonly string[]
  readonly expect: readonly number[]
  readonly encoding: 'json' | 'form'
  /** Static headers, with secrets from the environment already in (never logged or printed). */
  readonly headers: Readonly<Record<string, string>>
  readonly auth?: 'basic' | 'bearer'
  readonly timeoutMs: number
  readonly retries: number
  readonly retryBackoffMs: number
  readonly redirects: number
  /** PEM text of the CA(s) this request trusts instead of the system roots, and the file it came from. */
  readonly ca?: {path: string; pem: string}
  readonly maxResponseBytes: number
}

export interface RelayConfig {
  readonly requests: ReadonlyMap<string, RelayTemplate>
  readonly maxConcurrency: number
  /** At most maxConcurrency. */
  readonly maxConcurrencyPerConnection: number
  readonly maxLineBytes: number
  readonly ca?: {path: string; pem: string}
}

export interface RelayConfigDeps {
  /** Where secrets come from (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Reads a CA file named in the config (relative paths already resolved by the caller). */
  readCa: (path: string) => string
  /** Do not require the secrets' environment variables (for a client that only needs names and placeholders). */
  skipSecrets?: boolean
}

type Raw = Record<string, unknown>
const TOP_FIELDS = new Set(['requests', 'timeout', 'ca', 'max_concurrency', 'max_concurrency_per_connection', 'max_response_bytes', 'max_line_bytes'])
const REQUEST_FIELDS = new Set(['method', 'url', 'expect', 'body', 'headers', 'auth', 'timeout', 'retries', 'retry_backoff', 'query', 'ca', 'redirects', 'max_response_bytes'])
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Collects every problem, so one run of `relay check` shows them all. */
class Problems {
  readonly list: string[] = []
  add(where: string, message: string): void {
    this.list.push(`${where}: ${message}`)
  }
}

/**
 * A URL with the password written in it (`https://user:pass@host/`) shown as `https://user:***@host/`:
 * for every output that prints a configured URL (relay check, messages). The userinfo ends at the last
 * "@" before the path, since a raw "@" in a password is common.
 */
export function maskUrlPassword(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)
  if (!scheme) return url
  const start = scheme[0].length
  const authorityLength = url.slice(start).search(/[/?#]/)
  const end = authorityLength === -1 ? url.length : start + authorityLength
  const at = url.lastIndexOf('@', end - 1)
  const colon = url.indexOf(':', start)
  if (at < start || colon === -1 || colon > at) return url
  return `${url.slice(0, colon + 1)}***${url.slice(at)}`
}

/** A config value quoted in a message; a YAML value nested too deeply to print is described, not thrown. */
function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return 'a value nested too deeply to show'
  }
}

const isObject = (value: unknown): value is Raw => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Validates a parsed config file; throws RW_ERR_CONFIG listing every problem. `source` names the file in messages. */
export function validateRelayConfig(raw: unknown, source: string, deps: RelayConfigDeps): RelayConfig {
  const problems = new Problems()
  const env = deps.env ?? process.env
  if (!isObject(raw)) throw configError(source, ['the file must hold an object with a "requests" object'])
  for (const key of Object.keys(raw)) if (!TOP_FIELDS.has(key)) problems.add(key, `unknown field (expected one of ${[...TOP_FIELDS].join(', ')})`)
  const timeoutMs = raw.timeout === undefined ? DEFAULT_RELAY_TIMEOUT_MS : duration(raw.timeout, 'timeout', problems)
  const maxResponseBytes = positiveInt(raw.max_response_bytes, 'max_response_bytes', DEFAULT_RELAY_MAX_RESPONSE_BYTES, problems)
  const ca = raw.ca === undefined ? undefined : readCa(raw.ca, 'ca', deps, problems)
  const requests = new Map<string, RelayTemplate>()
  if (!isObject(raw.requests)) {
    problems.add('requests', 'must be an object mapping request names to templates')
  } else {
    if (Object.keys(raw.requests).length === 0) problems.add('requests', 'names no request')
    for (const [name, value] of Object.entries(raw.requests)) {
      const template = validateTemplate(name, value, {deps, env, maxResponseBytes, problems, timeoutMs})
      if (template) requests.set(name, template)
    }
  }

  const maxConcurrency = positiveInt(raw.max_concurrency, 'max_concurrency', DEFAULT_RELAY_MAX_CONCURRENCY, problems)
  const perConnection = positiveInt(raw.max_concurrency_per_connection, 'max_concurrency_per_connection', DEFAULT_RELAY_MAX_CONCURRENCY_PER_CONNECTION, problems)
  const config: RelayConfig = {
    ca,
    maxConcurrency,
    maxConcurrencyPerConnection: Math.min(perConnection, maxConcurrency),
    maxLineBytes: positiveInt(raw.max_line_bytes, 'max_line_bytes', DEFAULT_RELAY_MAX_LINE_BYTES, problems),
    requests,
  }
  if (problems.list.length > 0) throw configError(source, problems.list)
  return config
}

function configError(source: string, problems: string[]): RestwireError {
  const head = problems.length === 1 ? `invalid relay config ${source}: ${problems[0]}` : `invalid relay config ${source}:\n  ${problems.join('\n  ')}`
  return new RestwireError('RW_ERR_CONFIG', head, {details: {path: source, problems}})
}

interface TemplateContext {
  deps: RelayConfigDeps
  env: NodeJS.ProcessEnv
  problems: Problems
  timeoutMs: number
  maxResponseBytes: number
}

function validateTemplate(name: string, raw: unknown, context: TemplateContext): RelayTemplate | undefined {
  const {problems} = context
  const at = (field: string): string => `requests.${name}.${field}`
  const before = problems.list.length
  if (!isObject(raw)) {
    problems.add(`requests.${name}`, 'must be an object with at least method and url')
    return undefined
  }

  for (const key of Object.keys(raw)) if (!REQUEST_FIELDS.has(key)) problems.add(at(key), `unknown field (expected one of ${[...REQUEST_FIELDS].join(', ')})`)
  const method = typeof raw.method === 'string' ? raw.method.toUpperCase() : undefined
  if (!method || !(RELAY_METHODS as readonly string[]).includes(method)) problems.add(at('method'), `must be one of ${RELAY_METHODS.join(', ')}, got ${show(raw.method)}`)
  const url = splitUrl(raw.url, at('url'), problems)
  const query: Array<readonly [string, CompiledTemplate]> = []
  if (raw.query !== undefined) {
    if (isObject(raw.query)) {
      for (const [key, value] of Object.entries(raw.query)) {
        if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') query.push([encodeURIComponent(key), compileTemplate(String(value))])
        else problems.add(at(`query.${key}`), 'must be a string, number or boolean (may hold {placeholders})')
      }
    } else problems.add(at('query'), 'must be an object of parameter names to values')
  }

  const headers: Record<string, string> = {}
  if (raw.headers !== undefined) {
    if (isObject(raw.headers)) {
      for (const [header, value] of Object.entries(raw.headers)) {
        const text = headerValue(value, at(`headers.${header}`), context)
        if (!HEADER_NAME.test(header)) problems.add(at(`headers.${header}`), 'is not a valid header name')
        else if (text !== undefined) headers[header.toLowerCase()] = text
      }
    } else problems.add(at('headers'), 'must be an object of header names to values (or {"env": "VARIABLE"})')
  }

  const auth = validateAuth(raw.auth, at('auth'), context)
  if (auth) headers.authorization = auth.header
  const encoding = raw.body === undefined ? 'json' : raw.body
  if (encoding !== 'json' && encoding !== 'form') problems.add(at('body'), `must be "json" or "form", got ${show(raw.body)}`)
  const retries = raw.retries === undefined ? 0 : nonNegativeInt(raw.retries, at('retries'), problems)
  if (retries > 0 && method && !IDEMPOTENT_METHODS.has(method)) problems.add(at('retries'), `only idempotent methods (${[...IDEMPOTENT_METHODS].join(', ')}) may be retried, not ${method}`)
  const template: RelayTemplate = {
    auth: auth?.type,
    ca: raw.ca === undefined ? undefined : readCa(raw.ca, at('ca'), context.deps, problems),
    encoding: encoding as 'json' | 'form',
    expect: expectedStatuses(raw.expect, at('expect'), problems),
    headers,
    maxResponseBytes: positiveInt(raw.max_response_bytes, at('max_response_bytes'), context.maxResponseBytes, problems),
    method: method as RelayMethod,
    name,
    origin: url?.origin ?? '',
    path: url?.path ?? compileTemplate(''),
    placeholders: [...new Set([...(url?.path.names ?? []), ...query.flatMap(([, value]) => value.names)])],
    query,
    redirects: raw.redirects === undefined ? 0 : nonNegativeInt(raw.redirects, at('redirects'), problems),
    retries,
    retryBackoffMs: raw.retry_backoff === undefined ? DEFAULT_RETRY_BACKOFF_MS : duration(raw.retry_backoff, at('retry_backoff'), problems),
    timeoutMs: raw.timeout === undefined ? context.timeoutMs : duration(raw.timeout, at('timeout'), problems),
    url: typeof raw.url === 'string' ? raw.url : '',
  }
  return problems.list.length === before ? template : undefined
}

/** The origin must be literal (no placeholders): the operator, not the client, picks the host. */
function splitUrl(raw: unknown, where: string, problems: Problems): {origin: string; path: CompiledTemplate} | undefined {
  if (typeof raw !== 'string' || raw === '') {
    problems.add(where, 'must be an http:// or https:// URL template, e.g. "https://api.example.com/user/{user_id}"')
    return undefined
  }

  const match = /^(https?:\/\/[^/?#]*)(.*)$/i.exec(raw)
  if (!match) {
    problems.add(where, `must start with http:// or https://, got "${maskUrlPassword(raw)}"`)
    return undefined
  }

  if (match[1]!.includes('{')) {
    problems.add(where, 'placeholders are not allowed in the scheme, host or port (clients must not choose the host)')
    return undefined
  }

  let origin: string
  try {
    origin = new URL(match[1]!).origin
  } catch {
    problems.add(where, `"${maskUrlPassword(match[1]!)}" is not a valid origin`)
    return undefined
  }

  if (match[2]!.includes('#')) problems.add(where, 'must not contain a #fragment')
  const rest = match[2] === '' ? '/' : match[2]!
  if (!rest.startsWith('/') && !rest.startsWith('?')) problems.add(where, 'the path must start with /')
  return {origin, path: compileTemplate(rest.startsWith('?') ? '/' + rest : rest)}
}

function headerValue(value: unknown, where: string, context: TemplateContext): string | undefined {
  let text: string | undefined
  if (typeof value === 'string' || typeof value === 'number') text = String(value)
  else if (isObject(value) && typeof value.env === 'string') text = secret(value.env, where, context)
  else {
    context.problems.add(where, 'must be a string or {"env": "VARIABLE"}')
    return undefined
  }

  if (text !== undefined && /[\r\n\0]/.test(text)) {
    context.problems.add(where, 'must not contain CR, LF or NUL')
    return undefined
  }

  return text
}

/** A secret from the environment: the config names the variable, never the value. */
function secret(variable: string, where: string, context: TemplateContext): string | undefined {
  const value = context.env[variable]
  if (context.deps.skipSecrets) return value ?? ''
  if (value === undefined || value === '') {
    context.problems.add(where, `environment variable ${variable} is not set`)
    return undefined
  }

  return value
}

function validateAuth(raw: unknown, where: string, context: TemplateContext): {type: 'basic' | 'bearer'; header: string} | undefined {
  if (raw === undefined) return undefined
  const {problems} = context
  if (!isObject(raw) || (raw.type !== 'basic' && raw.type !== 'bearer')) {
    problems.add(where, 'must be {"type": "bearer", "token_env": "VAR"} or {"type": "basic", "username": "...", "password_env": "VAR"}')
    return undefined
  }

  for (const key of ['token', 'password']) {
    if (key in raw) problems.add(`${where}.${key}`, `secrets are never written in the config: name an environment variable with ${key}_env`)
  }

  if (raw.type === 'bearer') {
    if (typeof raw.token_env !== 'string') return void problems.add(`${where}.token_env`, 'must name the environment variable that holds the token')
    const token = secret(raw.token_env, `${where}.token_env`, context)
    return token === undefined ? undefined : {header: `Bearer ${token}`, type: 'bearer'}
  }

  const username = typeof raw.username_env === 'string' ? secret(raw.username_env, `${where}.username_env`, context) : raw.username
  if (typeof username !== 'string') return void problems.add(`${where}.username`, 'must be a string (or name a variable with username_env)')
  if (username.includes(':')) return void problems.add(`${where}.username`, 'must not contain ":"')
  if (typeof raw.password_env !== 'string') return void problems.add(`${where}.password_env`, 'must name the environment variable that holds the password')
  const password = secret(raw.password_env, `${where}.password_env`, context)
  return password === undefined ? undefined : {header: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`, type: 'basic'}
}

function expectedStatuses(raw: unknown, where: string, problems: Problems): number[] {
  if (raw === undefined) return [200]
  const list = Array.isArray(raw) ? raw : [raw]
  const valid = list.length > 0 && list.every((status) => Number.isInteger(status) && (status as number) >= 100 && (status as number) <= 599)
  if (!valid) problems.add(where, `must be an HTTP status (100-599) or a list of them, got ${show(raw)}`)
  return valid ? (list as number[]) : []
}

function readCa(raw: unknown, where: string, deps: RelayConfigDeps, problems: Problems): {path: string; pem: string} | undefined {
  if (typeof raw !== 'string' || raw === '') return void problems.add(where, 'must be the path of a PEM file with the CA certificate(s)')
  try {
    const pem = deps.readCa(raw)
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) return void problems.add(where, `${raw} holds no PEM certificate`)
    return {path: raw, pem}
  } catch (error) {
    return void problems.add(where, `cannot read ${raw}: ${fileErrorReason(error)}`)
  }
}

/** A number of seconds, or a string like "500ms", "10s", "2m", "1h" (core/duration.ts). */
function duration(raw: unknown, where: string, problems: Problems): number {
  const ms = parseDuration(raw)
  if (ms === undefined) {
    problems.add(where, `must be a duration up to 24 days (${DURATION_FORMS}); got ${show(raw)}`)
    return 0
  }

  return ms
}

function positiveInt(raw: unknown, where: string, fallback: number, problems: Problems): number {
  if (raw === undefined) return fallback
  if (Number.isInteger(raw) && (raw as number) > 0) return raw as number
  problems.add(where, `must be a positive integer, got ${show(raw)}`)
  return fallback
}

function nonNegativeInt(raw: unknown, where: string, problems: Problems): number {
  if (Number.isInteger(raw) && (raw as number) >= 0) return raw as number
  problems.add(where, `must be a whole number of 0 or more, got ${show(raw)}`)
  return 0
}
