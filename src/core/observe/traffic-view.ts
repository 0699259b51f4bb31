// How the inspector shows a TrafficRecord: a summary row for the live list, and the full record with its
// bodies made readable (JSON pretty-printed, text as is, binary as its size and a hex preview), every
// preview capped so that a 16 MiB body never reaches a browser whole.
import type {ConnectedClients, TrafficBody, TrafficRecord} from './traffic.js'

/** Characters of a body preview (text or pretty JSON) sent to the page; the rest is cut and marked. */
export const BODY_PREVIEW_CHARS = 64 * 1024
/** Bytes of a binary body shown in hex. */
export const HEX_PREVIEW_BYTES = 512

export interface TrafficSummary {
  id: number
  protocol: TrafficRecord['protocol']
  direction: TrafficRecord['direction']
  at: number
  peer?: string
  verb: string
  path: string
  status: number
  latencyMs: number
  requestBytes: number
  responseBytes: number
  error?: string
}

export interface BodyView {
  bytes: number
  /** `none`: no body, or the log keeps none; `json`, `text`: `text` holds it; `binary`: `hex` holds its first bytes. */
  kind: 'none' | 'json' | 'text' | 'binary'
  text?: string
  hex?: string
  /** The preview is shorter than the body. */
  truncated: boolean
  headers?: Record<string, string>
}

export interface TrafficDetail extends TrafficSummary {
  request: BodyView
  response: BodyView
}

export function summarize(record: TrafficRecord): TrafficSummary {
  const {at, direction, error, id, latencyMs, path, peer, protocol, status, verb} = record
  return {
    at, direction, id, latencyMs: Math.round(latencyMs * 10) / 10, path, protocol, requestBytes: record.request.bytes, responseBytes: record.response.bytes, status, verb,
    ...(peer === undefined ? {} : {peer}),
    ...(error === undefined ? {} : {error}),
  }
}

export function detail(record: TrafficRecord): TrafficDetail {
  return {...summarize(record), request: viewBody(record.request), response: viewBody(record.response)}
}

/** A body as the page shows it; a Buffer is shown as JSON or text when it decodes as such, else as hex. */
export function viewBody(body: TrafficBody & {headers?: Record<string, string>}): BodyView {
  const headers = body.headers === undefined ? {} : {headers: body.headers}
  const {value} = body
  if (value === undefined) return {bytes: body.bytes, kind: 'none', truncated: false, ...headers}
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    const text = utf8Text(bytes)
    if (text === undefined) {
      return {bytes: body.bytes, hex: hexPreview(bytes), kind: 'binary', truncated: bytes.length > HEX_PREVIEW_BYTES || bytes.length < body.bytes, ...headers}
    }

    const json = parseJson(text)
    return preview(json === undefined ? text : pretty(json), json === undefined ? 'text' : 'json', body.bytes, bytes.length < body.bytes, headers)
  }

  if (typeof value === 'string') return preview(value, 'text', body.bytes, false, headers)
  return preview(pretty(value), 'json', body.bytes, false, headers)
}

function preview(text: string, kind: 'json' | 'text', bytes: number, cut: boolean, headers: {headers?: Record<string, string>}): BodyView {
  const truncated = cut || text.length > BODY_PREVIEW_CHARS
  return {bytes, kind, text: text.length > BODY_PREVIEW_CHARS ? text.slice(0, BODY_PREVIEW_CHARS) : text, truncated, ...headers}
}

/** The bytes as text when they are valid UTF-8 without control characters other than whitespace. */
function utf8Text(bytes: Buffer): string | undefined {
  const text = new TextDecoder('utf-8', {fatal: false}).decode(bytes.subarray(0, BODY_PREVIEW_CHARS * 4))
  // eslint-disable-next-line no-control-regex
  if (text.includes('\uFFFD') || /[\u0000-\u0008\u000E-\u001F\u007F]/.test(text)) return undefined
  return text
}

function parseJson(text: string): unknown {
  const trimmed = text.trim()
  if (trimmed === '' || !/^[[{"\d-]|^(true|false|null)$/.test(trimmed)) return undefined
  try {
    return JSON.parse(trimmed) as unknown
  } catch {
    return undefined
  }
}

/** Pretty JSON that never throws (a cycle or BigInt a handler returned is shown as a note). */
function pretty(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item), 2) ?? 'null'
  } catch (error) {
    return `(not showable as JSON: ${(error as Error).message})`
  }
}

/** `00000000  7b 22 61 22 ...  |{"a"...|`, like hexdump -C, for the first HEX_PREVIEW_BYTES. */
export function hexPreview(bytes: Buffer): string {
  const lines: string[] = []
  const shown = bytes.subarray(0, HEX_PREVIEW_BYTES)
  for (let offset = 0; offset < shown.length; offset += 16) {
    const row = shown.subarray(offset, offset + 16)
    const hex = [...row].map((byte) => byte.toString(16).padStart(2, '0')).join(' ')
    const ascii = [...row].map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.')).join('')
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  |${ascii}|`)
  }

  return lines.join('\n')
}

/** Connected clients a korv server or relay lists (a flood of connections must not make a huge page); the total is counted. */
export const MAX_LISTED_CLIENTS = 200

/** An InspectPeer (inspector.ts, which imports this file) of a korv server or relay. */
export interface ClientPeer {id: string; inFlight: number; since: string; address?: string; fingerprint?: string}

/** A korv server's or relay's connected clients as inspector peers (the first MAX_LISTED_CLIENTS of them). */
export function clientPeers(list: (limit: number) => ConnectedClients): {peers(): ClientPeer[]; peerTotal(): number} {
  return {
    peerTotal: () => list(0).total,
    peers: () => list(MAX_LISTED_CLIENTS).clients.map(({address, fingerprint, id, inFlight, since}) => ({
      id, inFlight, since: new Date(since).toISOString(), ...(address ? {address} : {}), ...(fingerprint ? {fingerprint} : {}),
    })),
  }
}
