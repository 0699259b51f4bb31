// Locating a running ssh-agent.
import {statSync} from 'node:fs'

/** `$SSH_AUTH_SOCK` when it names an existing socket (a stale value after a logout is ignored). */
export function agentSocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const socket = env.SSH_AUTH_SOCK
  if (!socket) return undefined
  // Windows' OpenSSH agent is a named pipe, which stat() cannot vouch for.
  if (process.platform === 'win32') return socket
  try {
    return statSync(socket).isSocket() ? socket : undefined
  } catch {
    return undefined
  }
}
