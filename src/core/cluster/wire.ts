// The messages of a call between hubs (forward.ts) as bytes in the NATS payload, without NATS headers:
// nats.js writes and parses headers as text on every message, and nats-server scans them; here the
// first byte is the type and a few fixed fields follow. Only hubs of this version speak it.
//   open    [1][u8 body: 0 none, 1 inline, 2 streamed][f64 timeoutMs][u8 n][hub id][u8 n][verb]
//           [u16 n][noun][u16 count]{[u32 n][arg]}[u16 n or 0xffff: none][content type][inline body]
//   ack     [2][u8 n][holder's call subject][u8 n][holder's hub id]
//   data    [3][u8 flags][u32 seq]; flags END 1 (the last), REPLY 2 (the reply's start follows: [i32 code]
//           [u16 n][content type]), CALL 4 (the ack rides on it: [u8 n][call subject][u8 n][hub id]);
//           then the body bytes
//   credit  [4][u32 chunks the receiver consumed]
//   error   [5][JSON {code, status, message}]
//   cancel  [6]
//   batch   [7][u16 count >= 2]{[u8 n][address][u32 n >= 1][message]}: the messages of one event-loop
//           turn to one destination in one NATS message (nats-link.ts), at most BATCH_MAX_BYTES. To a
//           node's subject: opens, each address the caller's call subject (its reply subject). To a hub's
//           call inbox (`_INBOX.<hubId>._b`): any other message, each address a call id under that inbox
// A malformed message throws WireError; the inbox that received it reports it.

export const MessageType = {ack: 2, batch: 7, cancel: 6, credit: 4, data: 3, error: 5, open: 1} as const

/**
 * Bound on a batch (NATS refuses messages over its max_payload, 1 MB by default): a message that would
 * not fit with the batch's head (a body chunk, a large inline body) goes alone, as a plain message.
 */
export const BATCH_MAX_BYTES = 64 * 1024
/** The id under a hub's call inbox (`_INBOX.<hubId>.`) that batches for its calls go to; no call id has a '_'. */
export const BATCH_INBOX_ID = '_b'
/** A batch's type byte and count. */
export const BATCH_HEAD_BYTES = 3
/** An entry's address length and message length. */
export const BATCH_ENTRY_HEAD_BYTES = 5

export interface BatchEntry {
  address: string
  /** The entry's message: a view into the batch (the receiver copies what it keeps). */
  payload: Uint8Array
}

export const DataFlag = {CALL: 4, END: 1, REPLY: 2} as const

export const OpenBody = {inline: 1, none: 0, stream: 2} as const

export class WireError extends Error {}

export interface OpenMeta {
  hub: string
  verb: string
  noun: string
  args: string[]
  contentType?: string
  timeoutMs: number
  body: (typeof OpenBody)[keyof typeof OpenBody]
}

export interface DataMessage {
  seq: number
  end: boolean
  reply?: {code: number; contentType: string}
  /** The holder's call subject and hub id (the ack riding on its first data message). */
  call?: {call: string; hub: string}
  body: Uint8Array
}

const NO_CONTENT_TYPE = 0xff_ff
const U8_MAX = 0xff

/** The bytes of `value`, refusing more than `max` (a field's length prefix). */
function bytesOf(value: string, max: number, what: string): Buffer {
  const bytes = Buffer.from(value, 'utf8')
  if (bytes.byteLength > max) throw new RangeError(`${what} is too long for a message between hubs (${bytes.byteLength} bytes)`)
  return bytes
}

/** The UTF-8 length of `value`, refusing more than `max` (a field's length prefix). */
function lengthOf(value: string, max: number, what: string): number {
  const length = Buffer.byteLength(value, 'utf8')
  if (length > max) throw new RangeError(`${what} is too long for a message between hubs (${length} bytes)`)
  return length
}

/**
 * The open, its strings written straight into the message (measured first): a Buffer made for each
 * (hub id, verb, noun, content type, every argument) and copied was most of the open's cost.
 */
export function encodeOpen(meta: Omit<OpenMeta, 'body'>, body: 'stream' | Buffer | undefined): Buffer {
  const hub = lengthOf(meta.hub, U8_MAX, 'the hub id')
  const verb = lengthOf(meta.verb, U8_MAX, 'the verb')
  const noun = lengthOf(meta.noun, 0xff_ff, 'the noun')
  const {args} = meta
  if (args.length > 0xff_ff) throw new RangeError('too many arguments for a message between hubs')
  const contentType = meta.contentType === undefined ? -1 : lengthOf(meta.contentType, NO_CONTENT_TYPE - 1, 'the content type')
  const inline = Buffer.isBuffer(body) ? body : undefined
  let length = 1 + 1 + 8 + 1 + hub + 1 + verb + 2 + noun + 2 + 2 + Math.max(contentType, 0) + (inline?.length ?? 0)
  for (const arg of args) length += 4 + Buffer.byteLength(arg, 'utf8')
  const out = Buffer.allocUnsafe(length)
  out[0] = MessageType.open
  out[1] = inline ? OpenBody.inline : body === 'stream' ? OpenBody.stream : OpenBody.none
  out.writeDoubleBE(meta.timeoutMs, 2)
  let at = 10
  out[at++] = hub
  at += out.write(meta.hub, at, hub, 'utf8')
  out[at++] = verb
  at += out.write(meta.verb, at, verb, 'utf8')
  at = out.writeUInt16BE(noun, at)
  at += out.write(meta.noun, at, noun, 'utf8')
  at = out.writeUInt16BE(args.length, at)
  for (const arg of args) {
    const n = Buffer.byteLength(arg, 'utf8')
    at = out.writeUInt32BE(n, at)
    at += out.write(arg, at, n, 'utf8')
  }

  at = out.writeUInt16BE(contentType === -1 ? NO_CONTENT_TYPE : contentType, at)
  if (contentType > 0) at += out.write(meta.contentType!, at, contentType, 'utf8')
  inline?.copy(out, at)
  return out
}

/** Reads fields in order; throws WireError past the end. */
class Reader {
  private readonly bytes: Buffer

  constructor(
    bytes: Uint8Array,
    public at: number,
  ) {
    this.bytes = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  private need(n: number): void {
    if (this.at + n > this.bytes.byteLength) throw new WireError('a message shorter than its fields')
  }

  u8(): number {
    this.need(1)
    return this.bytes[this.at++]!
  }

  u16(): number {
    this.need(2)
    const value = this.bytes.readUInt16BE(this.at)
    this.at += 2
    return value
  }

  u32(): number {
    this.need(4)
    const value = this.bytes.readUInt32BE(this.at)
    this.at += 4
    return value
  }

  i32(): number {
    this.need(4)
    const value = this.bytes.readInt32BE(this.at)
    this.at += 4
    return value
  }

  f64(): number {
    this.need(8)
    const value = this.bytes.readDoubleBE(this.at)
    this.at += 8
    return value
  }

  string(n: number): string {
    if (n === 0) return ''
    this.need(n)
    const value = this.bytes.toString('utf8', this.at, this.at + n)
    this.at += n
    return value
  }

  view(n: number): Buffer {
    this.need(n)
    const value = this.bytes.subarray(this.at, this.at + n)
    this.at += n
    return value
  }

  rest(): Buffer {
    return this.bytes.subarray(this.at)
  }
}

/** An open's fields and its inline body (a copy: the message's buffer is the NATS client's read buffer). */
export function decodeOpen(bytes: Uint8Array): {meta: OpenMeta; inline?: Buffer} {
  const reader = new Reader(bytes, 0)
  if (reader.u8() !== MessageType.open) throw new WireError('not an open')
  const body = reader.u8()
  if (body !== OpenBody.none && body !== OpenBody.inline && body !== OpenBody.stream) throw new WireError(`unknown body mode ${body}`)
  const timeoutMs = reader.f64()
  if (!(timeoutMs > 0)) throw new WireError('no timeout')
  const hub = reader.string(reader.u8())
  if (hub === '') throw new WireError('no hub id')
  const verb = reader.string(reader.u8())
  const noun = reader.string(reader.u16())
  const count = reader.u16()
  const args: string[] = []
  for (let i = 0; i < count; i++) args.push(reader.string(reader.u32()))
  const typeLength = reader.u16()
  const contentType = typeLength === NO_CONTENT_TYPE ? undefined : reader.string(typeLength)
  if (body !== OpenBody.inline && reader.at !== bytes.byteLength) throw new WireError('bytes after the open')
  const meta: OpenMeta = {args, body, contentType, hub, noun, timeoutMs, verb}
  return body === OpenBody.inline ? {inline: Buffer.from(reader.rest()), meta} : {meta}
}

export function encodeAck(call: string, hub: string): Buffer {
  const c = bytesOf(call, U8_MAX, 'a call subject')
  const h = bytesOf(hub, U8_MAX, 'the hub id')
  const out = Buffer.allocUnsafe(3 + c.length + h.length)
  out[0] = MessageType.ack
  out[1] = c.length
  c.copy(out, 2)
  out[2 + c.length] = h.length
  h.copy(out, 3 + c.length)
  return out
}

export function decodeAck(bytes: Uint8Array): {call: string; hub: string} {
  const reader = new Reader(bytes, 1)
  const call = reader.string(reader.u8())
  const hub = reader.string(reader.u8())
  return {call, hub}
}

/**
 * A data message: `payload` (copied into the message), the END flag, and on the holder's first one the
 * reply's start and the ack. The copy is the one the NATS client would make anyway, moved here.
 */
export function encodeData(seq: number, payload: Uint8Array | undefined, end: boolean, reply?: {code: number; contentType: string}, call?: {call: string; hub: string}): Buffer {
  const contentType = reply && bytesOf(reply.contentType, 0xff_ff, 'the content type')
  if (reply && (reply.code | 0) !== reply.code) throw new RangeError(`reply code ${reply.code} is not a 32-bit integer`)
  const c = call && bytesOf(call.call, U8_MAX, 'a call subject')
  const h = call && bytesOf(call.hub, U8_MAX, 'the hub id')
  const head = 6 + (contentType ? 6 + contentType.length : 0) + (c && h ? 2 + c.length + h.length : 0)
  const out = Buffer.allocUnsafe(head + (payload?.byteLength ?? 0))
  out[0] = MessageType.data
  out[1] = (end ? DataFlag.END : 0) | (reply ? DataFlag.REPLY : 0) | (call ? DataFlag.CALL : 0)
  let at = out.writeUInt32BE(seq, 2)
  if (reply && contentType) {
    at = out.writeInt32BE(reply.code, at)
    at = out.writeUInt16BE(contentType.length, at)
    at += contentType.copy(out, at)
  }

  if (c && h) {
    out[at++] = c.length
    at += c.copy(out, at)
    out[at++] = h.length
    at += h.copy(out, at)
  }

  if (payload) out.set(payload, at)
  return out
}

/** A data message's fields; `body` is a view into the message (the receiver copies what it keeps). */
export function decodeData(bytes: Uint8Array): DataMessage {
  const reader = new Reader(bytes, 1)
  const flags = reader.u8()
  const seq = reader.u32()
  const message: DataMessage = {body: bytes, end: (flags & DataFlag.END) !== 0, seq}
  if (flags & DataFlag.REPLY) message.reply = {code: reader.i32(), contentType: reader.string(reader.u16())}
  if (flags & DataFlag.CALL) message.call = {call: reader.string(reader.u8()), hub: reader.string(reader.u8())}
  message.body = reader.rest()
  return message
}

export function encodeCredit(chunks: number): Buffer {
  const out = Buffer.allocUnsafe(5)
  out[0] = MessageType.credit
  out.writeUInt32BE(chunks >>> 0, 1)
  return out
}

export function decodeCredit(bytes: Uint8Array): number {
  return new Reader(bytes, 1).u32()
}

export function encodeError(value: {code: string; status: number; message: string}): Buffer {
  const json = Buffer.from(JSON.stringify(value))
  const out = Buffer.allocUnsafe(1 + json.length)
  out[0] = MessageType.error
  json.copy(out, 1)
  return out
}

export function decodeError(bytes: Uint8Array): {code?: unknown; status?: unknown; message?: unknown} {
  const value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 1, bytes.byteLength - 1).toString('utf8')) as unknown
  if (typeof value !== 'object' || value === null) throw new WireError('an error that is not an object')
  return value as {code?: unknown; status?: unknown; message?: unknown}
}

export const CANCEL = Buffer.from([MessageType.cancel])

/** Bytes of an entry in a batch for `address` (utf-8 length) and `payload`. */
export function batchEntryBytes(addressBytes: number, payload: Uint8Array): number {
  return BATCH_ENTRY_HEAD_BYTES + addressBytes + payload.byteLength
}

/** A batch of `entries` (at least two; the caller keeps it within BATCH_MAX_BYTES, an address within 255 bytes). */
export function encodeBatch(entries: Array<{address: string; payload: Uint8Array}>): Buffer {
  if (entries.length < 2 || entries.length > 0xff_ff) throw new RangeError(`a batch of ${entries.length} messages`)
  const addresses = entries.map((entry) => bytesOf(entry.address, U8_MAX, 'a batch address'))
  let length = BATCH_HEAD_BYTES
  for (const [i, entry] of entries.entries()) length += batchEntryBytes(addresses[i]!.length, entry.payload)
  if (length > BATCH_MAX_BYTES) throw new RangeError(`a batch of ${length} bytes`)
  const out = Buffer.allocUnsafe(length)
  out[0] = MessageType.batch
  let at = out.writeUInt16BE(entries.length, 1)
  for (const [i, entry] of entries.entries()) {
    const address = addresses[i]!
    out[at++] = address.length
    at += address.copy(out, at)
    at = out.writeUInt32BE(entry.payload.byteLength, at)
    out.set(entry.payload, at)
    at += entry.payload.byteLength
  }

  return out
}

/**
 * A batch's entries, all checked before any is used: a batch over BATCH_MAX_BYTES, a count below two or
 * that does not match the entries, an entry cut short, an empty address or message (an empty message
 * would pass for the server's "no responders"), or bytes after the last entry throw WireError.
 */
export function decodeBatch(bytes: Uint8Array): BatchEntry[] {
  if (bytes.byteLength > BATCH_MAX_BYTES) throw new WireError(`a batch of ${bytes.byteLength} bytes (at most ${BATCH_MAX_BYTES})`)
  const reader = new Reader(bytes, 0)
  if (reader.u8() !== MessageType.batch) throw new WireError('not a batch')
  const count = reader.u16()
  if (count < 2) throw new WireError(`a batch of ${count} messages`)
  const entries: BatchEntry[] = []
  for (let i = 0; i < count; i++) {
    const address = reader.string(reader.u8())
    if (address === '') throw new WireError('a batch entry without an address')
    const length = reader.u32()
    if (length === 0) throw new WireError('an empty message in a batch')
    entries.push({address, payload: reader.view(length)})
  }

  if (reader.at !== bytes.byteLength) throw new WireError('bytes after the last entry of a batch')
  return entries
}
