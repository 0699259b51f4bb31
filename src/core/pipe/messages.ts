// The payloads of pipe frames, by frame type, and their validation: EVENT and REPLY metadata in a
// compact binary layout (below; JSON for them cost more than a third of a small event's CPU once both
// sides were counted), HELLO, RESET and GOAWAY in JSON (rare). A payload that is not valid for its
// frame type yields a RestwireError; the session decides whether that ends one event (EVENT: RESET 400)
// or the connection (HELLO, REPLY).
//
// EVENT metadata (integers big endian, strings UTF-8):
//   [u8 verb length][verb][u16 noun length][noun][u16 argument count]{[u16 length][argument]}…
//   [u16 content type length, 0xFFFF: none][content type]
// REPLY metadata:
//   [i32 code][u16 content type length][content type]
import {RestwireError} from '../errors.js'
import {writeU16, writeU32} from './frames.js'

/** 2: EVENT and REPLY metadata in binary (1 had JSON). */
export const PIPE_PROTOCOL_VERSION = 2

/** The HTTP header in which a gateway gives the reply's return code (RETURN_OK...). */
export const EVENT_RETURN_CODE_HEADER = 'x-event-return-code'

/** HELLO, both ways, first frame on a connection: `{"version": 1, "role": "hub", "heartbeatMs": 5000}`. */
export interface HelloMeta {
  version: number
  role: 'hub' | 'node'
  heartbeatMs: number
}

/** EVENT: `{"verb": "GET", "noun": "time/utc", "args": ["a"], "contentType": "application/json"}`. */
export interface EventMeta {
  verb: string
  noun: string
  args: string[]
  contentType?: string
}

/** REPLY: `{"code": 0, "contentType": "application/json"}`; 0 ok, 251 handler raised, 255 no handler. */
export interface ReplyMeta {
  code: number
  contentType: string
}

/** RESET, either way: the event ends now; `code` is the HTTP-like status the caller reports. */
export interface ResetMeta {
  code: number
  reason: string
}

export const RETURN_OK = 0
export const RETURN_HANDLER_RAISED = 251
export const RETURN_NO_HANDLER = 255

export function parseJsonPayload(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}

/**
 * What went wrong, as text, for any thrown value: a handler may throw anything, and String() of a
 * deeply nested array (or a throwing getter) would itself throw.
 */
export function errorText(error: unknown): string {
  try {
    const message = (error as Error | undefined)?.message
    return typeof message === 'string' ? message : String(error)
  } catch {
    return `an unprintable ${typeof error}`
  }
}

function protocolError(message: string): RestwireError {
  return new RestwireError('RW_ERR_PROTOCOL', message)
}

export function parseHello(payload: Buffer): HelloMeta | RestwireError {
  const value = parseJsonPayload(payload) as Partial<HelloMeta> | undefined
  if (!value || typeof value !== 'object') return protocolError('HELLO is not a JSON object')
  // Named by its type unless a number: String() of a deeply nested array recurses (a RangeError).
  const version = typeof value.version === 'number' ? value.version : `of type ${typeof value.version}`
  if (value.version !== PIPE_PROTOCOL_VERSION) return protocolError(`the peer speaks pipe protocol version ${version}, this side ${PIPE_PROTOCOL_VERSION}`)
  return value as HelloMeta
}

const NO_CONTENT_TYPE = 0xff_ff
const VERB = /^[A-Za-z][A-Za-z0-9_-]*$/

/** Encoded size of an EVENT's metadata; -1 when a field is too long for its length prefix. */
export function eventMetaLength(meta: EventMeta): number {
  const verb = utf8Length(meta.verb)
  const noun = utf8Length(meta.noun)
  if (verb > 0xff || noun > 0xff_ff || meta.args.length > 0xff_ff) return -1
  let length = 1 + verb + 2 + noun + 2 + 2
  for (const arg of meta.args) {
    const bytes = utf8Length(arg)
    if (bytes > 0xff_ff) return -1
    length += 2 + bytes
  }

  if (meta.contentType !== undefined) {
    const bytes = utf8Length(meta.contentType)
    if (bytes >= NO_CONTENT_TYPE) return -1
    length += bytes
  }

  return length
}

/** Writes what eventMetaLength() measured at `offset`; returns the offset after it. */
export function writeEventMeta(target: Buffer, offset: number, meta: EventMeta): number {
  let at = writeString(target, offset + 1, meta.verb)
  target[offset] = at - offset - 1
  at = writeString16(target, at, meta.noun)
  writeU16(target, at, meta.args.length)
  at += 2
  for (const arg of meta.args) at = writeString16(target, at, arg)
  if (meta.contentType === undefined) {
    writeU16(target, at, NO_CONTENT_TYPE)
    return at + 2
  }

  return writeString16(target, at, meta.contentType)
}

/** An EVENT's metadata as a Buffer (tests, tools); the session writes it straight into the frame. */
export function encodeEventMeta(meta: EventMeta): Buffer {
  const length = eventMetaLength(meta)
  if (length < 0) throw new RangeError('EVENT metadata field too long')
  const target = Buffer.allocUnsafe(length)
  writeEventMeta(target, 0, meta)
  return target
}

/** The EVENT metadata in payload[start, end) (an INLINE frame's sits between its length and the body). */
export function parseEventMeta(payload: Buffer, start = 0, end = payload.length): EventMeta | RestwireError {
  const reader = META_READER.reset(payload, start, end)
  const verb = reader.string(reader.u8())
  const noun = reader.string(reader.u16())
  const count = reader.u16()
  const args: string[] = []
  for (let i = 0; i < count && !reader.short; i++) args.push(reader.string(reader.u16()))
  const typeLength = reader.u16()
  const contentType = typeLength === NO_CONTENT_TYPE ? undefined : reader.string(typeLength)
  if (reader.short || reader.offset !== end) return protocolError('EVENT metadata does not match its layout')
  const upper = verb === lastVerb ? lastVerbUpper : checkVerb(verb)
  if (upper === undefined) return protocolError('EVENT needs a verb made of letters')
  if (noun === '') return protocolError('EVENT needs a non-empty noun')
  return {args, contentType, noun, verb: upper}
}

// The last verb checked and its upper-case form: a connection's events mostly repeat a few verbs.
// Starts as a valid pair (an empty string must never match it).
let lastVerb = 'GET'
let lastVerbUpper = 'GET'
function checkVerb(verb: string): string | undefined {
  if (!VERB.test(verb)) return undefined
  lastVerb = verb
  lastVerbUpper = verb.toUpperCase()
  return lastVerbUpper
}

/** Encoded size of a REPLY's metadata; -1 when the code is not an int32 or the content type is too long. */
export function replyMetaLength(meta: ReplyMeta): number {
  if ((meta.code | 0) !== meta.code) return -1
  const bytes = utf8Length(meta.contentType)
  return bytes > 0xff_ff ? -1 : 4 + 2 + bytes
}

export function writeReplyMeta(target: Buffer, offset: number, meta: ReplyMeta): number {
  writeU32(target, offset, meta.code >>> 0)
  return writeString16(target, offset + 4, meta.contentType)
}

export function encodeReplyMeta(meta: ReplyMeta): Buffer {
  const length = replyMetaLength(meta)
  if (length < 0) throw new RangeError('REPLY metadata cannot be encoded')
  const target = Buffer.allocUnsafe(length)
  writeReplyMeta(target, 0, meta)
  return target
}

export function parseReplyMeta(payload: Buffer, start = 0, end = payload.length): ReplyMeta | RestwireError {
  const reader = META_READER.reset(payload, start, end)
  const code = reader.i32()
  const contentType = reader.string(reader.u16())
  if (reader.short || reader.offset !== end) return protocolError('REPLY metadata does not match its layout')
  return {code, contentType}
}

// Verbs, nouns, arguments and content types are mostly short ASCII: those are measured, written and
// read in plain JS (a call into C++ per field cost more than the work), and a string read is taken from
// a small table of recent ones when its bytes match (no new string per field per event). Anything
// longer or not ASCII goes through Buffer's UTF-8 code as before.
const SHORT_STRING_CHARS = 64
const RECENT_SLOTS = 256
const recentStrings: string[] = new Array<string>(RECENT_SLOTS).fill('')

/** UTF-8 length; a short ASCII string's is its length. */
export function utf8Length(value: string): number {
  const length = value.length
  if (length <= SHORT_STRING_CHARS) {
    let i = 0
    while (i < length && value.charCodeAt(i) < 0x80) i++
    if (i === length) return length
  }

  return Buffer.byteLength(value)
}

/** The string's UTF-8 bytes at `offset` (room measured by utf8Length); returns the offset after them. */
export function writeString(target: Buffer, offset: number, value: string): number {
  const length = value.length
  if (length === 0) return offset
  if (length <= SHORT_STRING_CHARS) {
    let i = 0
    for (; i < length; i++) {
      const code = value.charCodeAt(i)
      if (code >= 0x80) break
      target[offset + i] = code
    }

    if (i === length) return offset + length
  }

  return offset + target.write(value, offset, 'utf8')
}

/** payload[start, start + length) as UTF-8 text. */
function readString(payload: Buffer, start: number, length: number): string {
  if (length > SHORT_STRING_CHARS) return payload.toString('utf8', start, start + length)
  const end = start + length
  // The slot is picked by length, first and last byte: a repeated field is matched in one pass.
  const slot = (length * 31 + payload[start]! * 7 + payload[end - 1]!) & (RECENT_SLOTS - 1)
  const recent = recentStrings[slot]!
  let i = 0
  if (recent.length === length) {
    // The table holds ASCII only: bytes equal to its characters are ASCII too.
    while (i < length && recent.charCodeAt(i) === payload[start + i]) i++
    if (i === length) return recent
  }

  for (let at = start + i; at < end; at++) {
    if (payload[at]! >= 0x80) return payload.toString('utf8', start, end)
  }

  // ASCII: latin1 decodes it the same, without UTF-8 validation.
  const text = payload.toString('latin1', start, end)
  recentStrings[slot] = text
  return text
}

/** [u16 length][UTF-8 bytes]. */
function writeString16(target: Buffer, offset: number, value: string): number {
  const end = writeString(target, offset + 2, value)
  writeU16(target, offset, end - offset - 2)
  return end
}

/**
 * Reads fields in order; past the end it returns zeros and empty strings and sets `short`. One reader
 * serves every parse (reset() per payload; parsing is synchronous): no object per event.
 */
class MetaReader {
  short = false
  offset = 0
  private payload: Buffer = Buffer.alloc(0)
  private end = 0

  reset(payload: Buffer, offset: number, end: number): this {
    this.payload = payload
    this.offset = offset
    this.end = end
    this.short = false
    return this
  }

  u8(): number {
    if (!this.has(1)) return 0
    return this.payload[this.offset++]!
  }

  u16(): number {
    if (!this.has(2)) return 0
    const {payload, offset} = this
    const value = (payload[offset]! << 8) | payload[offset + 1]!
    this.offset += 2
    return value
  }

  i32(): number {
    if (!this.has(4)) return 0
    const {payload, offset} = this
    // Signed: the code is an i32.
    const value = (payload[offset]! << 24) | (payload[offset + 1]! << 16) | (payload[offset + 2]! << 8) | payload[offset + 3]!
    this.offset += 4
    return value
  }

  string(length: number): string {
    if (length === 0 || !this.has(length)) return ''
    const value = readString(this.payload, this.offset, length)
    this.offset += length
    return value
  }

  private has(bytes: number): boolean {
    if (this.offset + bytes <= this.end) return true
    this.short = true
    return false
  }
}

const META_READER = new MetaReader()

export function parseResetMeta(payload: Buffer): ResetMeta {
  const value = parseJsonPayload(payload) as Partial<ResetMeta> | undefined
  return {
    code: typeof value?.code === 'number' ? value.code : 502,
    reason: typeof value?.reason === 'string' ? value.reason : 'no reason given',
  }
}
