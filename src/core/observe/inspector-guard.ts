// Who may use the inspector. Request bodies may hold secrets, so: loopback only unless a bearer token is
// set; with a token every data route needs it; state-changing and data routes need a custom header (a
// cross-origin page cannot send one without a CORS preflight, which the inspector never grants) and a
// same-origin Origin; and the Host header must name loopback or the bound address, which defeats DNS
// rebinding (an attacker's name resolving to 127.0.0.1 still arrives with the attacker's Host).
import {createHash, timingSafeEqual} from 'node:crypto'
import type {IncomingMessage} from 'node:http'
import {isIP} from 'node:net'
import {RestwireError} from '../errors.js'

/** The header every inspector API call carries; a browser sends it cross-origin only after a preflight. */
export const INSPECT_HEADER = 'x-restwire-inspect'
/** The environment variable that sets the token when no --inspect-token is given. */
export const INSPECT_TOKEN_ENV = 'RESTWIRE_INSPECT_TOKEN'
/** A shorter token is refused: it would be guessable by a patient attacker on the network. */
export const MIN_TOKEN_CHARS = 16

export interface InspectorAccess {
  /** Where the inspector is bound (as given to listen). */
  bindHost: string
  /** Bearer token every data route needs; none: loopback only. */
  token?: string
}

export type GuardRefusal = {status: 401 | 403; reason: string}

/** 127.0.0.0/8, ::1, ::ffff:127.x, and the name localhost (and *.localhost, which resolvers keep on loopback). */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, '')
  if (name === 'localhost' || name.endsWith('.localhost')) return true
  if (isIP(name) === 4) return name.startsWith('127.')
  if (name === '::1' || name === '0:0:0:0:0:0:0:1') return true
  return /^::ffff:127\./.test(name)
}

/**
 * Refuses (RW_ERR_USAGE) an inspector bound beyond loopback without a token, or a token too short to
 * stand in for loopback. `flag` names where the address came from (`--inspect`, `--http`).
 */
export function checkInspectorBind(host: string, token: string | undefined, flag: string): void {
  if (token !== undefined && token.length < MIN_TOKEN_CHARS) {
    throw new RestwireError('RW_ERR_USAGE', `the inspector token is ${token.length} characters; it needs at least ${MIN_TOKEN_CHARS}`, {
      hint: 'Use a long random token, e.g. --inspect-token "$(openssl rand -hex 24)".',
    })
  }

  if (token === undefined && !isLoopbackHost(host)) {
    throw new RestwireError('RW_ERR_USAGE', `${flag} puts the inspector on ${host}, which is not loopback, without a token`, {
      hint: `The inspector shows request bodies, which may hold secrets. Set a token with --inspect-token or ${INSPECT_TOKEN_ENV}, bind it to loopback (127.0.0.1:PORT or a bare PORT), or turn it off with --no-inspect where the command has it.`,
    })
  }
}

/** The host name of a Host header (`[::1]:8080` → `::1`), lower case; undefined when absent or malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/i.exec(header.trim())
  return match ? (match[1] ?? match[2])!.toLowerCase() : undefined
}

/**
 * Checks one request: `page` (the static shell: Host only), `api` (reads: Host, header, Origin,
 * token) or `mutate` (replay: the same). Undefined when allowed.
 */
export function guardRequest(req: IncomingMessage, access: InspectorAccess, kind: 'page' | 'api'): GuardRefusal | undefined {
  const host = hostName(req.headers.host)
  if (host === undefined) return {reason: 'no Host header', status: 403}
  const bound = access.bindHost.toLowerCase().replace(/^\[|\]$/g, '')
  const wildcard = bound === '0.0.0.0' || bound === '::' || bound === ''
  // With a token the token is the defence; without one only loopback names are trusted (DNS rebinding).
  const hostAllowed = isLoopbackHost(host) || (!wildcard && host === bound) || access.token !== undefined
  if (!hostAllowed) return {reason: `Host "${host}" is not this inspector's address`, status: 403}
  if (kind === 'page') return undefined

  if (req.headers[INSPECT_HEADER] !== '1') return {reason: `missing the ${INSPECT_HEADER}: 1 header`, status: 403}
  const site = req.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return {reason: `a ${site} request`, status: 403}
  const origin = req.headers.origin
  if (origin !== undefined && origin !== `http://${req.headers.host}`) return {reason: `Origin ${origin} is not this inspector`, status: 403}
  if (access.token !== undefined && !tokenMatches(req.headers.authorization, access.token)) return {reason: 'a bearer token is required', status: 401}
  return undefined
}

/** Constant-time comparison of `Authorization: Bearer X` with the token (both hashed, so lengths do not leak). */
function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  if (!match) return false
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(match[1]!), digest(token))
}
