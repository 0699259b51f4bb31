// Hostile peers for the adversarial suite, shared by every protocol: raw TCP that resets, sends
// garbage, stays silent or trickles; floods of connections; payloads no server should choke on; a
// healthy client run beside each attack; and memory probes of a server process.
import {readFileSync} from 'node:fs'
import {type AddressInfo, type Socket, connect, createServer} from 'node:net'
import {setTimeout as sleep} from 'node:timers/promises'

export interface Target {
  host?: string
  port: number
}

/** Opens a TCP connection; resolves once connected. Every socket gets an `error` listener. */
export function openSocket(target: Target): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({host: target.host ?? '127.0.0.1', port: target.port})
    socket.on('error', () => {})
    socket.once('connect', () => resolve(socket))
    socket.once('close', () => reject(new Error('closed before connecting')))
  })
}

/** Resolves true once the peer closes `socket`, false if it is still open after `ms`. */
export function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed || socket.readableEnded) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    const done = (): void => {
      clearTimeout(timer)
      resolve(true)
    }
    socket.once('close', done)
    socket.once('end', done)
    socket.resume()
  })
}

export type HostileTcpKind = 'reset' | 'garbage' | 'silence' | 'trickle' | 'half-ssh'

/**
 * One hostile TCP peer:
 * - `reset`: connects and sends a RST at once;
 * - `garbage`: sends text of no protocol and closes;
 * - `silence`: connects and says nothing (returned open, for grace-time checks);
 * - `trickle`: sends `bytes` one byte every `intervalMs` (returned open);
 * - `half-ssh`: sends an SSH identification line, then nothing (returned open).
 */
export async function hostileTcp(
  target: Target,
  kind: HostileTcpKind,
  options: {bytes?: Buffer; intervalMs?: number} = {},
): Promise<Socket> {
  const socket = await openSocket(target)
  switch (kind) {
    case 'reset':
      socket.resetAndDestroy()
      break
    case 'garbage':
      socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n\u0000\u00ff not a protocol at all \r\n'.repeat(4))
      break
    case 'silence':
      break
    case 'half-ssh':
      socket.write('SSH-2.0-hostile_0.1\r\n')
      break
    case 'trickle': {
      const bytes = options.bytes ?? Buffer.from('SSH-2.0-trickle\r\n')
      const interval = options.intervalMs ?? 50
      void (async () => {
        for (const byte of bytes) {
          if (socket.destroyed) return
          socket.write(Buffer.from([byte]))
          await sleep(interval)
        }
      })()
      break
    }
  }
  return socket
}

/** An SSH packet before keys are in use: length, padding length, payload, 4-11 bytes of padding. */
function plainSshPacket(payload: Buffer): Buffer {
  let padding = 8 - ((5 + payload.length) % 8)
  if (padding < 4) padding += 8
  const packet = Buffer.alloc(5 + payload.length + padding)
  packet.writeUInt32BE(1 + payload.length + padding, 0)
  packet[4] = padding
  payload.copy(packet, 5)
  return packet
}

function sshString(value: Buffer | string): Buffer {
  const bytes = Buffer.from(value)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(bytes.length)
  return Buffer.concat([length, bytes])
}

/**
 * A client that runs an SSH key exchange by hand as far as its ECDH_INIT, which carries `publicKey` as
 * its X25519 key (RFC 8731: 32 bytes), then reads what the server sends until it closes, sends its
 * NEWKEYS, or `ms` pass. Returns the message numbers of the server's packets after its KEXINIT (those
 * after NEWKEYS would be encrypted: not read), and whether it closed.
 */
export async function hostileKeyExchange(target: Target, publicKey: Buffer, ms: number): Promise<{closed: boolean; messages: number[]}> {
  const socket = await openSocket(target)
  let received = Buffer.alloc(0)
  const messages = (): number[] => {
    const found: number[] = []
    for (let at = received.indexOf('\r\n') + 2; at > 1 && at + 5 < received.length; at += 4 + received.readUInt32BE(at)) {
      found.push(received[at + 5]!)
      if (found.at(-1) === 21) break
    }
    return found.slice(1)
  }

  const kexinit = Buffer.concat([
    Buffer.from([20]),
    Buffer.alloc(16, 7),
    ...[
      'curve25519-sha256,curve25519-sha256@libssh.org',
      'ssh-ed25519',
      ...Array.from({length: 2}, () => 'aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr'),
      ...Array.from({length: 2}, () => 'hmac-sha2-256-etm@openssh.com,hmac-sha2-256,hmac-sha2-512'),
      'none,zlib@openssh.com',
      'none,zlib@openssh.com',
      '',
      '',
    ].map(sshString),
    Buffer.from([0, 0, 0, 0, 0]),
  ])
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    const done = (value: boolean): void => {
      clearTimeout(timer)
      resolve(value)
    }

    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (messages().includes(21)) done(false)
    })
    socket.once('end', () => done(true))
    socket.once('close', () => done(true))
    socket.write(Buffer.concat([Buffer.from('SSH-2.0-hostile_0.1\r\n'), plainSshPacket(kexinit), plainSshPacket(Buffer.concat([Buffer.from([30]), sshString(publicKey)]))]))
  })
  socket.destroy()
  return {closed, messages: messages()}
}

/** Runs every kind of hostile TCP peer against `target` once, `rounds` times; closes what stays open. */
export async function hostileTcpRound(target: Target, rounds = 1): Promise<number> {
  let tried = 0
  for (let round = 0; round < rounds; round++) {
    const sockets = await Promise.all(
      (['reset', 'garbage', 'silence', 'trickle', 'half-ssh'] as const).map((kind) => hostileTcp(target, kind).catch(() => undefined)),
    )
    tried += sockets.length
    await sleep(20)
    for (const socket of sockets) socket?.destroy()
  }
  return tried
}

/**
 * Opens `count` connections that say nothing, all at once: the server accepts them in one burst, so a
 * startup gate sees them together and no grace time can run out in between, however loaded the machine.
 * Connections the server refuses before they connect are left out.
 */
export async function floodConnectionsAtOnce(target: Target, count: number): Promise<Socket[]> {
  const settled = await Promise.allSettled(Array.from({length: count}, () => openSocket(target)))
  return settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
}

/** The local ports of `sockets` as `host:port` addresses, as a server names its peers in its log. */
export function peerAddresses(sockets: Socket[]): Set<string> {
  return new Set(sockets.map((socket) => `${socket.localAddress}:${socket.localPort}`))
}

/**
 * How many JSON log lines (from `lines`) with `"event": event` name one of `addresses`, by their
 * `reason`: what a startup gate said about each connection of a flood, however long it took to say it.
 */
export function reasonsLogged(lines: readonly string[], event: string, addresses: ReadonlySet<string>): Map<string, number> {
  const counts = new Map<string, number>()
  for (const line of lines) {
    if (!line.includes(event)) continue
    let entry: {address?: unknown; event?: unknown; reason?: unknown}
    try {
      entry = JSON.parse(line) as typeof entry
    } catch {
      continue
    }
    if (entry.event !== event || typeof entry.address !== 'string' || !addresses.has(entry.address)) continue
    const reason = String(entry.reason)
    counts.set(reason, (counts.get(reason) ?? 0) + 1)
  }
  return counts
}

/** Opens `count` connections that say nothing; the caller destroys them (or the server closes them). */
export async function floodConnections(target: Target, count: number): Promise<Socket[]> {
  const sockets: Socket[] = []
  for (let index = 0; index < count; index++) {
    try {
      sockets.push(await openSocket(target))
    } catch {
      // refused or reset at once: what a capped server may do
    }
  }
  return sockets
}

/** JSON text nested `depth` levels deep, as an array (`[[[...]]]`) or an object (`{"a":{"a":...}}`). */
export function deepJsonText(depth = 100_000, shape: 'array' | 'object' = 'array'): string {
  return shape === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
}

/** A value nested `depth` levels deep (parsing `deepJsonText` would throw in most parsers). */
export function deepValue(depth = 100_000): unknown {
  let value: unknown = 1
  for (let index = 0; index < depth; index++) value = [value]
  return value
}

export interface HealthyReport {
  answered: number
  failed: Array<{at: number; error: string}>
  /** The slowest answer in ms (reported, never asserted as a performance figure). */
  slowestMs: number
  /** Answers slower than `lateMs`. */
  late: number
}

/**
 * Runs `call` back to back until `stop()` resolves, as a healthy client beside an attack. A call that
 * throws, or takes longer than `lateMs` (a liveness bound, not a speed figure), is recorded.
 */
export function healthyClient(call: () => Promise<void>, lateMs = 5_000): {stop(): Promise<HealthyReport>} {
  const report: HealthyReport = {answered: 0, failed: [], late: 0, slowestMs: 0}
  let running = true
  const loop = (async () => {
    while (running) {
      const started = performance.now()
      try {
        await Promise.race([
          call(),
          sleep(lateMs * 4, undefined, {ref: false}).then(() => {
            throw new Error(`no answer in ${lateMs * 4} ms`)
          }),
        ])
        report.answered++
      } catch (error) {
        report.failed.push({at: Date.now(), error: String((error as Error)?.message ?? error)})
      }
      const took = performance.now() - started
      report.slowestMs = Math.max(report.slowestMs, took)
      if (took > lateMs) report.late++
      await sleep(10)
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return report
    },
  }
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (!match) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(match[1]) * 1024
}

/** Samples a process's RSS every `everyMs` until stopped; reports the baseline and the peak. */
export function watchRss(pid: number, everyMs = 50): {stop(): {baseline: number; peak: number}} {
  const baseline = rssOf(pid)
  let peak = baseline
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssOf(pid))
    } catch {
      // the process is gone; the caller sees that elsewhere
    }
  }, everyMs)
  return {
    stop() {
      clearInterval(timer)
      try {
        peak = Math.max(peak, rssOf(pid))
      } catch {
        // gone
      }
      return {baseline, peak}
    },
  }
}

export const MIB = 1024 * 1024
/** What a client that never reads may grow a server by (the "about 100 MB"). */
export const GROWTH_LIMIT_BYTES = 100 * MIB

export type HostileServerKind = 'silence' | 'garbage' | 'reset'

/**
 * A hostile server, for clients that dial out (durable nodes): on 127.0.0.1:0 it accepts TCP and then
 * says nothing (`silence`), sends text of no protocol and closes (`garbage`), or resets (`reset`).
 * `accepted` counts the connections, so a test can see a client redial.
 */
export async function hostileServer(kind: HostileServerKind, port = 0): Promise<{port: number; accepted(): number; close(): Promise<void>}> {
  const sockets = new Set<Socket>()
  let accepted = 0
  const server = createServer((socket) => {
    accepted++
    socket.on('error', () => {})
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    if (kind === 'garbage') socket.end('HTTP/1.1 400 Bad Request\r\n\r\n\u0000\u00ff not SSH at all\r\n')
    else if (kind === 'reset') socket.resetAndDestroy()
  })
  server.on('error', () => {})
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
    port: (server.address() as AddressInfo).port,
  }
}
