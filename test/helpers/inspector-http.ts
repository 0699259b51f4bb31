// HTTP helpers for the inspector tests: requests with any Host, Origin or header (node:http lets a test
// send what a browser or an attacker would), and a server-sent events reader.
import {type IncomingMessage, request} from 'node:http'

export const INSPECT = {'x-restwire-inspect': '1'}

export interface RawResponse {
  status: number
  headers: IncomingMessage['headers']
  body: string
}

/** One request to 127.0.0.1:port; `headers` win over the defaults (Host is 127.0.0.1:port unless given). */
export function rawRequest(port: number, path: string, options: {method?: string; headers?: Record<string, string>; body?: string} = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({headers: {host: `127.0.0.1:${port}`, ...options.headers}, host: '127.0.0.1', method: options.method ?? 'GET', path, port, timeout: 20_000}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({body: Buffer.concat(chunks).toString('utf8'), headers: res.headers, status: res.statusCode ?? 0}))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer in 20 s`)))
    req.on('error', reject)
    req.end(options.body)
  })
}

export interface SseEvent {
  event: string
  data: unknown
}

export interface SseReader {
  status: number
  events: SseEvent[]
  /** The first event from index `from` on that passes `test`; rejects after `ms`. */
  next(test: (event: SseEvent) => boolean, ms?: number): Promise<SseEvent>
  close(): void
}

/** Opens the inspector's event stream and collects its events. */
export function openSse(port: number, headers: Record<string, string> = INSPECT): Promise<SseReader> {
  return new Promise((resolve, reject) => {
    const req = request({headers: {accept: 'text/event-stream', host: `127.0.0.1:${port}`, ...headers}, host: '127.0.0.1', path: '/inspect/api/events', port}, (res) => {
      const events: SseEvent[] = []
      const waiters = new Set<() => void>()
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (text: string) => {
        buffer += text
        let end
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1]
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (event && data) events.push({data: JSON.parse(data) as unknown, event})
        }

        for (const wake of waiters) wake()
      })
      res.on('error', () => {})
      resolve({
        close: () => req.destroy(),
        events,
        next(test, ms = 20_000) {
          return new Promise((found, fail) => {
            const check = (): void => {
              const hit = events.find(test)
              if (!hit) return
              waiters.delete(check)
              clearTimeout(timer)
              found(hit)
            }

            const timer = setTimeout(() => {
              waiters.delete(check)
              fail(new Error(`no matching event in ${ms} ms; got ${events.map((e) => e.event).join(', ')}`))
            }, ms)
            waiters.add(check)
            check()
          })
        },
        status: res.statusCode ?? 0,
      })
    })
    req.on('error', reject)
    req.end()
  })
}
