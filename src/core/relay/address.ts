// Relay addresses: the core address grammar with tcp:// and unix:/path allowed (`127.0.0.1:9876`,
// `tcp://[::1]:9876`, `9876`, `unix:/run/relay.sock`).
import {type AddressSpec, formatAddress, parseAddress} from '../address.js'

export const DEFAULT_RELAY_ADDRESS = 'tcp://127.0.0.1:9876'

export type RelayAddress = {kind: 'tcp'; host: string; port: number} | {kind: 'unix'; path: string}

export const RELAY_LISTEN: AddressSpec = {role: 'listen', schemes: ['tcp'], unix: true}
export const RELAY_TO: AddressSpec = {role: 'to', schemes: ['tcp'], unix: true}

/** `label` names the flag or field in errors (`--listen`, `--to`). Port 0 is accepted (a listener picks one). */
export function parseRelayAddress(text: string, flag: string): RelayAddress {
  const address = parseAddress(text, RELAY_LISTEN, `--${flag}`)
  return address.kind === 'unix' ? address : {host: address.host, kind: 'tcp', port: address.port}
}

export function formatRelayAddress(address: RelayAddress): string {
  return formatAddress(address.kind === 'unix' ? address : {...address, scheme: 'tcp'})
}
