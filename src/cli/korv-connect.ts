// How `korv call` connects itself: its keys (cli/identities.ts), the host key policy and the client
// options. Shared by the full command (korv-call.ts), the master it starts, and the cold fast path
// (korv-call-cold-entry.ts), so that all of them verify the host and authenticate the same way.
import {formatHostPort} from '../core/address.js'
import {localPaths} from '../core/home.js'
import type {HostKeyPolicy, KorvClientOptions} from '../core/korv/client.js'
import type {OnTrace} from '../core/trace.js'
import type {KorvCallOptions} from './korv-answer.js'

export const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

export type KorvConnectOptions = KorvClientOptions & {host: string; port: number; user: string; knownHostsPath: string}

/** The client options of a call that connects itself; `retry` is the request the unknown-host hint repeats. */
export async function connectOptions(options: KorvCallOptions, retry: string, trace: OnTrace | undefined): Promise<KorvConnectOptions> {
  // Key loading (and node:crypto under it) only for a call that connects itself.
  const {resolveClientIdentity} = await import('./identities.js')
  const identity = await resolveClientIdentity(options.identityPaths, options.knownHostsPath)
  // Zero configuration: the first use of a server on this machine is trusted, as the README promises.
  const policy: HostKeyPolicy = options.insecure
    ? 'off'
    : options.acceptNew || (identity.zeroConfig && LOOPBACK.has(options.host))
      ? 'accept-new'
      : 'strict'
  const knownHostsFlag = options.knownHostsPath ? ` --known-hosts ${options.knownHostsPath}` : ''
  return {
    agent: identity.agent,
    connectTimeoutMs: options.connectTimeoutMs,
    host: options.host,
    hostKeyPolicy: policy,
    identities: identity.identities,
    knownHostsPath: identity.knownHostsPath,
    localAuthorizedKeysPath: LOOPBACK.has(options.host) ? localPaths().authorizedKeys : undefined,
    maxInFlight: options.concurrency,
    onTrace: trace,
    port: options.port,
    requestTimeoutMs: options.timeoutMs,
    trustCommand: `restwire korv call --accept-new --to ${formatHostPort(options.host, options.port)}${knownHostsFlag} ${retry}`,
    user: options.user,
  }
}
