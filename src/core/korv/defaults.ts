// korv's defaults, in a module of their own so the CLI can show them without loading ssh2.

export const DEFAULT_KORV_PORT = 8022
/** The TCP connection and SSH handshake of `korv call`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
export {DEFAULT_REQUEST_TIMEOUT_MS} from '../duration.js'
/** `korv call --batch`: requests in flight at once. */
export const DEFAULT_BATCH_CONCURRENCY = 256
/** Largest decompressed message (PROTOCOLS.md: 16 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
export const DEFAULT_MAX_IN_FLIGHT = 1024
export const DEFAULT_DRAIN_MS = 10_000
/** A connection that sends nothing for this long, with nothing in flight, is closed. 0 = never. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000
export const KORV_SUBSYSTEM = 'korv'
/** Our SSH software version; peers that see it know we decode coalesced input. */
export const RESTWIRE_IDENT = 'restwire_0.1'
export {DEFAULT_LOGIN_GRACE_MS, DEFAULT_MAX_STARTUPS} from '../startup-gate.js'
/** korv channels (direct-tcpip or subsystem) one connection may have open at once. */
export const DEFAULT_MAX_CHANNELS = 16
