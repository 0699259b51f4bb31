// Relay listen/connect addresses: `tcp://HOST:PORT` (`tcp://[::1]:9876` for IPv6) or `unix:PATH`.
import {RestwireError} from '../errors.js'

export const DEFAULT_RELAY_ADDRESS = 'tcp://127.0.0.1:9876'

export type RelayAddress = {kind: 'tcp'; host: string; port: number} | {kind: 'unix'; path: string}

export function parseRelayAddress(text: string, flag: string): RelayAddress {
  const input = text.trim()
  if (input.startsWith('unix:')) {
    const path = input.slice('unix:'.length).replace(/^\/\/(?=\/)/, '')
    if (path !== '') return {kind: 'unix', path}
  } else {
    const match = /^tcp:\/\/(?:\[([^\]]+)\]|([^:\s[\]/]+)):(\d+)$/.exec(input)
    const port = Number(match?.[3])
    if (match && port <= 65_535) return {host: match[1] ?? match[2]!, kind: 'tcp', port}
  }

  throw new RestwireError('RW_ERR_USAGE', `--${flag} takes tcp://HOST:PORT or unix:/path/to.sock, got "${text}"`)
}

export function formatRelayAddress(address: RelayAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`
  return `tcp://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`
}
