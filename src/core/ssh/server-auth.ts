// The public key check an SSH server runs on each authentication attempt.
import ssh2 from 'ssh2'
import type {AuthContext} from 'ssh2'
import type {AuthorizedKey, AuthorizedKeysFile} from './authorized-keys.js'
import {sha256Fingerprint} from './fingerprint.js'
import {blobKeyType, normalizeKeyType} from './key-blob.js'
import {type KeyOptionContext, keyOptionsRefusal} from './key-options.js'

export type PublicKeyAuthResult = {ok: true; key: AuthorizedKey} | {ok: false; reason: string}

/**
 * Decides a publickey attempt against `keys`. Without a signature (the client asking whether a key
 * would be accepted) ok means "acceptable key"; with one, the signature must also verify. Every
 * other method is refused. The key's from= and expiry-time= options are enforced against `context`.
 * Never logs: the caller decides what to record.
 */
export function checkPublicKeyAuth(ctx: AuthContext, keys: AuthorizedKeysFile, context: KeyOptionContext = {}): PublicKeyAuthResult {
  if (ctx.method !== 'publickey') {
    return {ok: false, reason: `authentication method "${ctx.method}" is not accepted, only publickey`}
  }

  const blob = ctx.key.data
  const blobType = blobKeyType(blob)
  if (blobType === undefined || normalizeKeyType(ctx.key.algo) !== blobType) {
    return {ok: false, reason: `the ${ctx.key.algo} public key sent by the client is malformed`}
  }

  const key = keys.find(blobType, blob)
  if (!key) return {ok: false, reason: `key ${sha256Fingerprint(blob)} is not in ${keys.path}`}
  const refusal = keyOptionsRefusal(key.options, context)
  if (refusal) return {ok: false, reason: `key ${key.fingerprint} (${keys.path} line ${key.line}): ${refusal}`}
  if (ctx.signature === undefined) return {ok: true, key}
  if (ctx.blob === undefined) return {ok: false, reason: 'signature without signed data'}

  const parsed = ssh2.utils.parseKey(blob)
  if (parsed instanceof Error) {
    return {ok: false, reason: `cannot verify ${blobType} keys (${parsed.message})`}
  }

  // verify() returns an Error instead of throwing on malformed input, hence the strict comparison.
  const verified: unknown = parsed.verify(ctx.blob, ctx.signature, ctx.hashAlgo)
  if (verified !== true) return {ok: false, reason: `signature check failed for key ${key.fingerprint}`}
  return {ok: true, key}
}

/** Who authenticated on a server connection, once a signed publickey attempt succeeded. */
export interface AuthenticatedClient {
  fingerprint?: string
  user?: string
}

/**
 * Answers every authentication attempt on an ssh2 server connection: publickey only, checked with
 * checkPublicKeyAuth; `onRejected` hears each refusal (fingerprint and reason). Returns who got in.
 */
export function acceptPublicKeys(
  client: {on(event: 'authentication', listener: (ctx: AuthContext) => void): unknown},
  keys: AuthorizedKeysFile,
  address: string | undefined,
  onRejected: (rejection: {fingerprint: string; reason: string}) => void,
): AuthenticatedClient {
  const authenticated: AuthenticatedClient = {}
  client.on('authentication', (ctx) => {
    if (ctx.method !== 'publickey') {
      ctx.reject(['publickey'])
      return
    }

    const result = checkPublicKeyAuth(ctx, keys, {address})
    if (!result.ok) {
      // Clients usually offer a key without a signature first; an unlisted key is rejected right there.
      onRejected({fingerprint: sha256Fingerprint(ctx.key.data), reason: result.reason})
      ctx.reject(['publickey'])
      return
    }

    if (ctx.signature) {
      authenticated.fingerprint = result.key.fingerprint
      authenticated.user = ctx.username
    }

    ctx.accept()
  })
  return authenticated
}
