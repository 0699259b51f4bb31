// A raw NATS client over TCP for the adversarial cluster tests: it speaks the text protocol itself
// (CONNECT, SUB, PUB, HPUB, PING), so it can send what no well-behaved client would (headers that are
// not headers, payloads that are not JSON) and read what the hubs publish (beats name their ids).
import {type Socket, connect} from 'node:net'

export interface RawMessage {
  subject: string
  reply?: string
  headers?: string
  data: Buffer
}

export interface RawNats {
  sub(subject: string, onMessage?: (msg: RawMessage) => void): void
  /** PUB, or HPUB when `headers` is given (sent as is: any bytes). */
  pub(subject: string, data: Buffer | string, options?: {reply?: string; headers?: string}): void
  /** Resolves once the server has processed everything sent before (PING/PONG). */
  flush(): Promise<void>
  /** `-ERR` lines the server sent. */
  errors: string[]
  readonly closed: boolean
  /** Stops reading from the socket (a member that never reads: NATS calls it a slow consumer). */
  stopReading(): void
  close(): void
}

/** `NATS/1.0` headers from pairs, as a real client writes them. */
export function natsHeaders(pairs: Record<string, string>): string {
  return `NATS/1.0\r\n${Object.entries(pairs).map(([key, value]) => `${key}: ${value}\r\n`).join('')}\r\n`
}

export async function connectRawNats(port: number): Promise<RawNats> {
  const socket: Socket = connect({host: '127.0.0.1', port})
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const handlers = new Map<string, (msg: RawMessage) => void>()
  const pongs: Array<() => void> = []
  const errors: string[] = []
  let sid = 0
  let buffer = Buffer.alloc(0)
  let closed = false
  socket.once('close', () => {
    closed = true
    for (const pong of pongs.splice(0)) pong()
  })

  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      const eol = buffer.indexOf('\r\n')
      if (eol < 0) return
      const line = buffer.subarray(0, eol).toString()
      const [op, ...rest] = line.split(' ')
      if (op === 'MSG' || op === 'HMSG') {
        const sizes = rest.slice(op === 'MSG' ? -1 : -2).map(Number)
        const total = sizes.at(-1)!
        if (buffer.length < eol + 2 + total + 2) return
        const body = buffer.subarray(eol + 2, eol + 2 + total)
        const [subject, id, ...middle] = rest
        const reply = middle.length > (op === 'MSG' ? 1 : 2) ? middle[0] : undefined
        const headerLength = op === 'HMSG' ? sizes[0]! : 0
        buffer = buffer.subarray(eol + 2 + total + 2)
        handlers.get(id!)?.({data: Buffer.from(body.subarray(headerLength)), headers: headerLength ? body.subarray(0, headerLength).toString() : undefined, reply, subject: subject!})
        continue
      }

      buffer = buffer.subarray(eol + 2)
      if (op === 'PING') socket.write('PONG\r\n')
      else if (op === 'PONG') pongs.shift()?.()
      else if (op === '-ERR') errors.push(line)
    }
  })
  socket.write(`CONNECT ${JSON.stringify({headers: true, no_responders: true, pedantic: false, protocol: 1, verbose: false})}\r\n`)

  const raw: RawNats = {
    close: () => socket.destroy(),
    get closed() {
      return closed
    },
    errors,
    flush: () =>
      new Promise((resolve) => {
        if (closed) return resolve()
        pongs.push(resolve)
        socket.write('PING\r\n')
      }),
    stopReading: () => void socket.pause(),
    pub(subject, data, options = {}) {
      const payload = Buffer.from(data)
      const reply = options.reply ? ` ${options.reply}` : ''
      if (options.headers === undefined) {
        socket.write(Buffer.concat([Buffer.from(`PUB ${subject}${reply} ${payload.length}\r\n`), payload, Buffer.from('\r\n')]))
        return
      }

      const headers = Buffer.from(options.headers)
      socket.write(Buffer.concat([Buffer.from(`HPUB ${subject}${reply} ${headers.length} ${headers.length + payload.length}\r\n`), headers, payload, Buffer.from('\r\n')]))
    },
    sub(subject, onMessage) {
      const id = String(++sid)
      if (onMessage) handlers.set(id, onMessage)
      socket.write(`SUB ${subject} ${id}\r\n`)
    },
  }
  await raw.flush()
  return raw
}
