// The relay's bounds on what clients may hold, in one place (the command's flag defaults import it
// without loading the server). docs/relay.md lists them.

/** A connection with nothing in flight is closed after this long without a complete request line. */
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000
/** Connections open at once; the relay has no authentication, so this is its MaxStartups. */
export const DEFAULT_MAX_CONNECTIONS = 256
/** Bytes of unsent replies above which a connection is not read from (and its waiting requests do not start). */
export const WRITE_HIGH_WATER_BYTES = 1024 * 1024
/** Requests of one connection accepted and not yet answered (waiting for a slot or in flight). */
export const MAX_PENDING_REQUESTS = 1024
/** Bytes of the request lines of those requests (their bodies wait in memory with them). */
export const MAX_PENDING_BYTES = 4 * 1024 * 1024
/** The longest delay a Node.js timer takes (about 24.8 days); a longer idle timeout means this. */
export const MAX_TIMER_MS = 2_147_483_647
