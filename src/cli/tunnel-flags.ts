// `--to` of the clients of an HTTP gateway (tunnel call and nodes, pipe call): an http(s) address, with
// --gateway kept as a deprecated alias. Passed on as the gateway's base URL.
import {type TcpAddress, formatAddress} from '../core/address.js'
import {addressFlag} from './flags.js'

export const gatewayToFlag = (options: {default: string; description: string}) =>
  addressFlag({...options, deprecatedAliases: ['gateway'], role: 'to', schemes: ['http', 'https']})

/** `http://127.0.0.1:8080` (with its path, if any): the base URL the client puts /nodes/... under. */
export function gatewayUrl(address: TcpAddress): string {
  return formatAddress(address)
}
