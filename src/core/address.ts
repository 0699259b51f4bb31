// The one address grammar of every listener and every target (flags and config files alike):
//   HOST:PORT         api.example.com:8022, 127.0.0.1:8080
//   [IPv6]:PORT       [::1]:8022
//   PORT              8022, meaning 127.0.0.1:8022 (loopback, never every interface by surprise)
//   HOST              only where the role has a default port (korv call's 8022, an http:// URL's 80)
//   unix:/path        a UNIX socket, only where one is allowed (relay)
//   SCHEME://...      only where the scheme means something: tcp:// (relay), http:// or https:// (the HTTP
//                     gateways of tunnel and pipe, where a bare HOST:PORT means http://)
import {RestwireError} from './errors.js'

export type AddressScheme = 'tcp' | 'http' | 'https'

export type TcpAddress = {kind: 'tcp'; host: string; port: number; scheme?: AddressScheme; path?: string}
export type UnixAddress = {kind: 'unix'; path: string}
export type Address = TcpAddress | UnixAddress

/** What one use of an address accepts. */
export interface AddressSpec {
  /** `listen`: a server binds it (port 0 picks a free one); `to`: a client dials it. */
  role: 'listen' | 'to'
  /** Schemes accepted; the first is the one a bare HOST:PORT gets. None: no scheme may be written. */
  schemes?: readonly AddressScheme[]
  /** Whether unix:/path is accepted. */
  unix?: boolean
  /** The port of a bare HOST; without it a HOST needs its :PORT. */
  defaultPort?: number
}

export const LOOPBACK_HOST = '127.0.0.1'

const SCHEME_PORTS: Readonly<Partial<Record<AddressScheme, number>>> = {http: 80, https: 443}
const HOST_PORT = /^(?:\[([^\]\s/]+)\]|([^:\s[\]/@?#]+))(?::(\d{1,5}))?$/

/** The forms `spec` accepts, for usage errors and help: "HOST:PORT, [IPv6]:PORT or PORT". */
export function addressForms(spec: AddressSpec): string {
  const scheme = spec.schemes?.length ? `[${spec.schemes.join('|')}://]` : ''
  const forms = [`${scheme}HOST:PORT`, `${scheme}[IPv6]:PORT`, 'PORT']
  if (spec.defaultPort !== undefined) forms.push(`HOST (port ${spec.defaultPort})`)
  if (spec.unix) forms.push('unix:/path/to.sock')
  return `${forms.slice(0, -1).join(', ')} or ${forms.at(-1)}`
}

/**
 * Parses `text` by the grammar above as `spec` allows; RW_ERR_USAGE naming `label` (a flag such as
 * `--to`, or a config field) and the accepted forms when it does not fit.
 */
export function parseAddress(text: string, spec: AddressSpec, label = `--${spec.role}`): Address {
  const input = text.trim()
  const fail = (why: string): never => {
    throw new RestwireError('RW_ERR_USAGE', `${label} ${why}, got "${text}"`, {
      details: {address: text},
      hint: `${label} takes ${addressForms(spec)}, e.g. ${example(spec)}.`,
    })
  }

  if (input.startsWith('unix:')) {
    if (!spec.unix) fail('cannot be a UNIX socket here')
    const path = input.slice('unix:'.length).replace(/^\/\/(?=\/)/, '')
    if (path === '') fail('needs a socket path after unix:')
    return {kind: 'unix', path}
  }

  let rest = input
  let scheme: AddressScheme | undefined
  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(input)
  if (schemeMatch) {
    const written = schemeMatch[1]!.toLowerCase() as AddressScheme
    if (!spec.schemes?.includes(written)) fail(spec.schemes?.length ? `takes only ${spec.schemes.map((s) => `${s}://`).join(' or ')}` : 'takes no scheme (no "://")')
    scheme = written
    rest = input.slice(schemeMatch[0].length)
  }

  // A path after the authority only means something on an http(s) URL (a gateway behind a prefix).
  let path: string | undefined
  const slash = rest.indexOf('/')
  if (slash !== -1) {
    if (scheme !== 'http' && scheme !== 'https') fail('has a path, which only an http:// URL may have')
    path = rest.slice(slash).replace(/\/+$/, '')
    rest = rest.slice(0, slash)
  }

  if (/^\d+$/.test(rest)) return withScheme({host: LOOPBACK_HOST, kind: 'tcp', port: checkPort(rest, spec, fail)}, spec, scheme, path)
  const match = HOST_PORT.exec(rest)
  if (!match) {
    if ((rest.match(/:/g)?.length ?? 0) > 1 && !rest.startsWith('[')) fail('is an IPv6 address without brackets: write [IPv6]:PORT')
    fail('is not an address')
  }

  const host = match![1] ?? match![2]!
  const defaultPort = spec.defaultPort ?? (scheme ? SCHEME_PORTS[scheme] : undefined)
  if (match![3] === undefined && defaultPort === undefined) fail('needs a port (HOST:PORT)')
  const port = match![3] === undefined ? defaultPort! : checkPort(match![3], spec, fail)
  return withScheme({host, kind: 'tcp', port}, spec, scheme, path)
}

function checkPort(text: string, spec: AddressSpec, fail: (why: string) => never): number {
  const port = Number(text)
  const min = spec.role === 'listen' ? 0 : 1
  if (port < min || port > 65_535) fail(`has port ${text}; a port is ${min}-65535${spec.role === 'listen' ? ' (0 picks a free one)' : ''}`)
  return port
}

function withScheme(address: TcpAddress, spec: AddressSpec, scheme: AddressScheme | undefined, path: string | undefined): TcpAddress {
  const chosen = scheme ?? spec.schemes?.[0]
  if (chosen) address.scheme = chosen
  if (path) address.path = path
  return address
}

function example(spec: AddressSpec): string {
  if (spec.unix) return `${spec.schemes?.[0] ? `${spec.schemes[0]}://` : ''}127.0.0.1:9876 or unix:/run/app.sock`
  const scheme = spec.schemes?.[0] ? `${spec.schemes[0]}://` : ''
  const port = spec.schemes?.[0]?.startsWith('http') ? 8080 : 8022
  return spec.role === 'listen' ? `${scheme}0.0.0.0:${port} or ${port}` : `${scheme}api.example.com:${port}`
}

/** `HOST:PORT` with IPv6 in brackets, no scheme. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** The address as written in a flag: `tcp://127.0.0.1:9876`, `http://[::1]:8080/api`, `unix:/run/x.sock`. */
export function formatAddress(address: Address): string {
  if (address.kind === 'unix') return `unix:${address.path}`
  const scheme = address.scheme ? `${address.scheme}://` : ''
  return `${scheme}${formatHostPort(address.host, address.port)}${address.path ?? ''}`
}
