// Resolves the SSH identity a client command uses: -i files, else the restwire home's client key
// (made and authorized for local use on first run), plus ssh-agent when SSH_AUTH_SOCK is set.
import {isatty} from 'node:tty'
import {ensureClientIdentity, localPaths} from '../core/home.js'
import {agentSocket} from '../core/ssh/agent.js'
import {type LoadedPrivateKey, loadPrivateKey} from '../core/ssh/private-key.js'
import {askPassphrase} from './prompts.js'

export interface ClientIdentity {
  identities: LoadedPrivateKey[]
  agent?: string
  knownHostsPath: string
  /** The restwire home is in use (no -i, no --known-hosts). */
  zeroConfig: boolean
}

export async function resolveClientIdentity(identityPaths: string[] | undefined, knownHostsPath: string | undefined): Promise<ClientIdentity> {
  const paths = localPaths()
  let keyPaths = identityPaths ?? []
  if (keyPaths.length === 0) {
    await ensureClientIdentity(paths)
    keyPaths = [paths.clientKey]
  }

  // Whether stdin is a terminal, without making process.stdin (for a file or /dev/null, an fs.ReadStream).
  const prompt = isatty(0) ? askPassphrase : undefined
  const identities = await Promise.all(keyPaths.map((path) => loadPrivateKey(path, {askPassphrase: prompt})))
  return {
    agent: agentSocket(),
    identities,
    knownHostsPath: knownHostsPath ?? paths.knownHosts,
    zeroConfig: !identityPaths?.length && !knownHostsPath,
  }
}
