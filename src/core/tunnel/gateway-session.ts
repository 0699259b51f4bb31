// One connected node as the gateway sees it: the direct-tcpip channel, requests in flight matched to
// their answers by request_id, and STREAM results delivered as async iterables.
import type ssh2 from 'ssh2'
import {RestwireError} from '../errors.js'
import {FrameWriter} from '../framing/frame-writer.js'
import {GzipMemberDecoder, encodeGzipMember} from '../framing/gzip-member.js'
import {type TunnelRequestMessage, type TunnelRequestType, type TunnelResponseMessage, parseTunnelResponse, tunnelRequest} from './messages.js'

/** A STREAM's items as they arrive. Breaking out of `for await` cancels it too. */
export interface TunnelStream extends AsyncIterable<unknown> {
  /** Sends CANCEL; resolves once the node's terminator arrived (or the session or timeout ended it). */
  cancel(): Promise<void>
}

interface Pending {
  /** Returns true when this was the request's last message. */
  onMessage(message: TunnelResponseMessage): boolean
  fail(error: RestwireError): void
}

/** Stream items buffered for slow consumers before the channel is paused (the SSH window then closes). */
const PAUSE_AT_ITEMS = 4096
const RESUME_AT_ITEMS = 1024

export interface GatewaySessionOptions {
  channel: ssh2.ClientChannel
  coalesce: boolean
  maxMessageBytes: number
  /** Called once when the channel is gone, for whatever reason. */
  onClose: (error: RestwireError) => void
}

export class GatewaySession {
  private readonly writer: FrameWriter
  private readonly pending = new Map<string | number, Pending>()
  private closedError: RestwireError | undefined
  /** Stream items received but not yet consumed, over all streams of this session. */
  private buffered = 0

  constructor(private readonly options: GatewaySessionOptions) {
    const {channel} = options
    this.writer = new FrameWriter(channel, options.coalesce)
    const decoder = new GzipMemberDecoder({
      maxMessageBytes: options.maxMessageBytes,
      onError: (error) => {
        this.close(new RestwireError(error.code, `the node sent an unreadable stream: ${error.message}`, {cause: error}))
        channel.destroy()
      },
      onMessage: (payload) => this.onPayload(payload),
    })
    channel.on('data', (chunk: Buffer) => decoder.push(chunk))
    channel.on('close', () => this.close(new RestwireError('RW_ERR_CLOSED', 'the node closed the tunnel channel')))
  }

  get inFlight(): number {
    return this.pending.size
  }

  get closed(): boolean {
    return this.closedError !== undefined
  }

  /** One request, one answer; rejects with RW_ERR_TIMEOUT after timeoutMs and RW_ERR_CLOSED when the node goes. */
  request(type: TunnelRequestType, router: string | null, data: unknown, params: Record<string, unknown> | null, timeoutMs: number): Promise<TunnelResponseMessage> {
    if (this.closedError) return Promise.reject(this.closedError)
    const message = tunnelRequest(type, router, data, params)
    return new Promise<TunnelResponseMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(message.id)
        reject(new RestwireError('RW_ERR_TIMEOUT', `no answer to ${type} ${router ?? ''} within ${timeoutMs} ms`, {details: {status: 504}}))
      }, timeoutMs)
      this.pending.set(message.id, {
        fail: (error) => {
          clearTimeout(timer)
          reject(error)
        },
        onMessage: (response) => {
          clearTimeout(timer)
          resolve(response)
          return true
        },
      })
      this.send(message)
    })
  }

  /** Starts a STREAM; the first answer must come within timeoutMs, later items may take any time. */
  stream(router: string, params: Record<string, unknown> | null, timeoutMs: number): TunnelStream {
    const message = tunnelRequest('STREAM', router, null, params)
    const items: unknown[] = []
    let finished = false
    let failure: RestwireError | undefined
    const waiters: Array<() => void> = []
    let cancelled: Promise<void> | undefined
    const notify = (): void => {
      for (const waiter of waiters.splice(0)) waiter()
    }

    const finish = (error?: RestwireError): void => {
      if (finished) return
      finished = true
      failure = error
      clearTimeout(timer)
      this.pending.delete(message.id)
      notify()
    }

    const timer = setTimeout(() => {
      finish(new RestwireError('RW_ERR_TIMEOUT', `no answer to STREAM ${router} within ${timeoutMs} ms`, {details: {status: 504}}))
      this.sendCancel(message.id)
    }, timeoutMs)
    let answered = false
    this.pending.set(message.id, {
      fail: (error) => finish(error),
      onMessage: (response) => {
        if (!answered) {
          answered = true
          clearTimeout(timer)
        }

        const code = response.ssh_response_code
        if (code !== 200) finish(remoteError(`STREAM ${router}`, code, response.response))
        else if (response.response === null) finish()
        else if (!cancelled) {
          items.push(response.response)
          this.onBuffered(1)
        }

        notify()
        return finished
      },
    })
    if (this.closedError) finish(this.closedError)
    else this.send(message)

    const cancel = (): Promise<void> => {
      // Items not yet consumed are dropped, so that an abandoned stream never holds the channel paused.
      this.onBuffered(-items.length)
      items.length = 0
      if (finished) return Promise.resolve()
      cancelled ??= new Promise<void>((resolve) => {
        this.sendCancel(message.id)
        const bound = setTimeout(() => finish(), timeoutMs)
        const poll = (): void => {
          if (finished) {
            clearTimeout(bound)
            resolve()
          } else waiters.push(poll)
        }

        poll()
      })
      return cancelled
    }

    const iterator: AsyncIterator<unknown> = {
      next: async () => {
        for (;;) {
          if (items.length > 0) {
            this.onBuffered(-1)
            return {done: false, value: items.shift()}
          }

          if (failure) throw failure
          if (finished) return {done: true, value: undefined}
          await new Promise<void>((resolve) => waiters.push(resolve))
        }
      },
      return: async () => {
        await cancel()
        return {done: true, value: undefined}
      },
    }
    return {[Symbol.asyncIterator]: () => iterator, cancel}
  }

  /** Fails everything in flight with `error` and closes the channel. Safe to call twice. */
  close(error: RestwireError): void {
    if (this.closedError) return
    this.closedError = error
    this.writer.close()
    for (const [id, entry] of [...this.pending]) {
      this.pending.delete(id)
      entry.fail(error)
    }

    this.options.channel.destroy()
    this.options.onClose(error)
  }

  /** Backpressure toward the node: a paused channel stops the SSH window adjustments, so the node's writes wait. */
  private onBuffered(delta: number): void {
    this.buffered += delta
    const {channel} = this.options
    if (this.buffered >= PAUSE_AT_ITEMS && !channel.isPaused()) channel.pause()
    else if (this.buffered <= RESUME_AT_ITEMS && channel.isPaused()) channel.resume()
  }

  private sendCancel(streamId: string | number): void {
    if (!this.closedError) this.send(tunnelRequest('CANCEL', String(streamId)))
  }

  private send(message: TunnelRequestMessage): void {
    this.writer.write(encodeGzipMember(JSON.stringify(message)))
  }

  private onPayload(payload: Buffer): void {
    const response = parseTunnelResponse(payload)
    // Answers to nothing we sent (request_id 0, a CANCEL's 404 after the stream ended) are ignored.
    if (!response) return
    const entry = this.pending.get(response.request_id)
    if (!entry) return
    if (entry.onMessage(response)) this.pending.delete(response.request_id)
  }
}

/** A non-200 answer as an error: RW_ERR_REMOTE_4XX or _5XX carrying the status and body. */
export function remoteError(what: string, status: number, body: unknown): RestwireError {
  const error = (body as {error?: unknown; message?: unknown} | null)?.error ?? (body as {message?: unknown} | null)?.message
  const text = typeof error === 'string' ? error : JSON.stringify(body)
  return new RestwireError(status >= 500 ? 'RW_ERR_REMOTE_5XX' : 'RW_ERR_REMOTE_4XX', `${what} failed with ${status}: ${text}`, {details: {body, status}})
}
