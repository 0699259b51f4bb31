// What the link layer needs of a connection, whatever the protocol inside (SSH for the tunnel, the
// pipe's frames over TLS): close politely, cut it off, know when it is gone.

/** How long a peer may take to finish a polite close before its connection is destroyed. */
export const CLOSE_GRACE_MS = 1000

export interface LinkSession {
  /** Ends the connection politely (a GOAWAY, an SSH disconnect), saying why where the protocol can. Safe twice. */
  close(reason: string): void
  /** Cuts the connection at once. Safe twice, and after close(). */
  destroy(): void
  /** Resolves once the connection is gone; never rejects. */
  readonly closed: Promise<unknown>
}

/** How a dialled connection ended: why in the log's words, and the errno of a dial that failed. */
export interface LinkEnd {
  reason?: string
  code?: string
}

/** A connection made by a Redialer: the transport is up, the protocol's handshake may still run. */
export interface DialedSession extends LinkSession {
  /** Resolves when the handshake is done (the handshake timeout stops); may never resolve. */
  readonly ready: Promise<void>
  readonly closed: Promise<LinkEnd>
  /** Cuts the connection at once; `reason` is how it ended, unless the session knew a reason first. */
  destroy(reason?: string): void
}
