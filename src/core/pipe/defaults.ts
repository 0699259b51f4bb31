// pipe's defaults, in a module of their own so the CLI can show them without loading tls and http.

/** The TLS port nodes dial. */
export const DEFAULT_PIPE_PORT = 7443
/** The local HTTP gateways: the hub's and a node's. */
export const DEFAULT_HUB_HTTP_PORT = 8090
export const DEFAULT_NODE_HTTP_PORT = 8091
/** Bound on the time until an event sent through a gateway is answered. */
export const DEFAULT_EVENT_TIMEOUT_MS = 30_000
export const DEFAULT_HEARTBEAT_MS = 5000
