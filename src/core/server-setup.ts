// What every restwire SSH server sets up before serving: exactly one source of answers, and its
// identity (host keys and authorized_keys) from flags or from the restwire home, made on first run.
import {ensureServerIdentity, localPaths} from './home.js'
import {RestwireError} from './errors.js'
import {AuthorizedKeysFile} from './ssh/authorized-keys.js'
import {type LoadPrivateKeyOptions, type LoadedPrivateKey, loadPrivateKey} from './ssh/private-key.js'

/** Where a server's answers come from: exactly one of these. */
export interface HandlerSourceOptions {
  routesPath?: string
  upstreamUrl?: string
  demo?: boolean
}

export function requireOneHandlerSource(options: HandlerSourceOptions): void {
  const sources = [options.routesPath, options.upstreamUrl, options.demo || undefined].filter((value) => value !== undefined)
  if (sources.length !== 1) {
    throw new RestwireError('RW_ERR_USAGE', 'say what answers requests: exactly one of --routes FILE, --upstream URL or --demo')
  }
}

export interface ServerIdentityOptions {
  home?: string
  /** Host key files; none = the restwire home's host key. */
  hostKeyPaths?: string[]
  /** none = the restwire home's authorized_keys, which authorizes the local client key. */
  authorizedKeysPath?: string
  keyOptions?: LoadPrivateKeyOptions
}

export interface ServerIdentity {
  hostKeys: LoadedPrivateKey[]
  authorizedKeys: AuthorizedKeysFile
  /** Files made on this run (zero-config identities). */
  created: string[]
}

export async function loadServerIdentity(options: ServerIdentityOptions): Promise<ServerIdentity> {
  const paths = localPaths(options.home)
  const created: string[] = []
  if (!options.hostKeyPaths?.length || !options.authorizedKeysPath) created.push(...(await ensureServerIdentity(paths)).created)
  const hostKeyPaths = options.hostKeyPaths?.length ? options.hostKeyPaths : [paths.hostKey]
  const hostKeys = await Promise.all(hostKeyPaths.map((path) => loadPrivateKey(path, options.keyOptions)))
  const authorizedKeys = await AuthorizedKeysFile.open(options.authorizedKeysPath ?? paths.authorizedKeys)
  return {authorizedKeys, created, hostKeys}
}
