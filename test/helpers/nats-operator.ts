// NATS decentralized auth (operator/JWT mode) for the creds-file tests, made here with @nats-io/nkeys and
// @nats-io/jwt because `nsc` is not packaged for Debian: an operator signs an account, the account signs
// users, and nats-server trusts the operator and has the account preloaded (resolver: MEMORY).
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {encodeAccount, encodeOperator, encodeUser, fmtCreds} from '@nats-io/jwt'
import {createAccount, createOperator, createUser} from '@nats-io/nkeys'

export interface NatsOperator {
  /** nats-server configuration lines that trust the operator and know its account. */
  config: string
  /**
   * Writes a .creds file for a new user of the account (allow: subjects it may publish and subscribe
   * to, all when absent) and returns its path.
   */
  userCreds(name: string, allow?: string[]): Promise<string>
  /** A .creds file for a user signed by an account the server does not know: refused. */
  strangerCreds(name: string): Promise<string>
}

const UNLIMITED = {conn: -1, data: -1, exports: -1, imports: -1, leaf: -1, payload: -1, subs: -1, wildcards: true}

export async function makeNatsOperator(dir: string): Promise<NatsOperator> {
  const operator = createOperator()
  const account = createAccount()
  const system = createAccount()
  const operatorJwt = await encodeOperator('restwire-test', operator, {system_account: system.getPublicKey()})
  const accountJwt = await encodeAccount('hubs', account, {limits: UNLIMITED}, {signer: operator})
  const systemJwt = await encodeAccount('SYS', system, {limits: UNLIMITED}, {signer: operator})

  const writeCreds = async (name: string, issuer: ReturnType<typeof createAccount>, allow?: string[]): Promise<string> => {
    const user = createUser()
    const permissions = allow ? {pub: {allow}, sub: {allow}} : {}
    const jwt = await encodeUser(name, user, issuer, permissions)
    const path = join(dir, `${name}.creds`)
    await writeFile(path, fmtCreds(jwt, user), {mode: 0o600})
    return path
  }

  return {
    config: [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      `  ${account.getPublicKey()}: ${accountJwt}`,
      `  ${system.getPublicKey()}: ${systemJwt}`,
      '}',
    ].join('\n'),
    strangerCreds: (name) => writeCreds(name, createAccount()),
    userCreds: (name, allow) => writeCreds(name, account, allow),
  }
}
