// tunnel defaults, in a module of their own so a CLI can show them without loading ssh2.
export {DEFAULT_MAX_IN_FLIGHT, RESTWIRE_IDENT} from '../korv/defaults.js'

export const DEFAULT_GATEWAY_PORT = 8022
/** The gateway's local HTTP API. */
export const DEFAULT_HTTP_API_PORT = 8080
export const DEFAULT_GATEWAY_TIMEOUT_MS = 30_000
export const DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS = 10_000
export {DEFAULT_BACKOFF_MAX_MS} from '../backoff.js'
/** The SSH user name the gateway sends; nodes accept any. */
export const GATEWAY_USER = 'gateway'
/** HTTP API connections open at once at the gateway; beyond it new ones are closed. */
export const DEFAULT_HTTP_MAX_CONNECTIONS = 1024
/** Time from the node's TCP connect to IDENTIFY answered; then the node drops the connection and redials. */
export const DEFAULT_NODE_HANDSHAKE_TIMEOUT_MS = 10_000
