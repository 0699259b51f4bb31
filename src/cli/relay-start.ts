// `relay start` glue: load the config, start the relay, log one line per request on stderr (batched:
// batched-log.ts), reload the config on SIGHUP (an invalid one is logged and the old one kept), drain and
// exit on SIGINT/SIGTERM.
import type {RelayAddress} from '../core/relay/address.js'
import type {RelayRequestLog} from '../core/relay/connection.js'
import {loadRelayConfig} from '../core/relay/load-config.js'
import {decimalText} from '../core/relay/messages.js'
import {relayInspectTarget} from '../core/relay/inspect-target.js'
import {type RelayServerEvent, startRelayServer} from '../core/relay/server.js'
import {BatchedLog} from './batched-log.js'
import {type InspectCliOptions, inspectorUrl, prepareInspector, startOwnInspector, servedLog} from './inspect.js'
import {stderrColors as c} from './output.js'
import {type LogFormat, escapeControl, formatEventLog} from './request-log.js'
import {stopSignal} from './serve-until-signal.js'
import type {TcpAddress} from '../core/address.js'
import {observeTraffic, startMetricsPort} from './observe.js'

export interface RelayStartOptions {
  /** `--inspect HOST:PORT` and its token (docs/inspect.md); no address: off. */
  inspect: InspectCliOptions
  /** `--metrics`: where /metrics, /healthz and /readyz are served; off when absent. */
  metrics?: TcpAddress
  configPath: string
  listen: RelayAddress
  socketMode?: number
  logFormat: LogFormat
  json: boolean
  /** 0: never close idle connections. */
  idleTimeoutMs?: number
  maxConnections?: number
}

const MAX_LOGGED_ID_CHARS = 80
/** A client's request name is logged (an unknown one too): cut like the id, so a 1 MiB name is not a 1 MiB log line. */
const MAX_LOGGED_NAME_CHARS = 80

export async function runRelayStart(options: RelayStartOptions): Promise<{address: string} | undefined> {
  const logFormat: LogFormat = options.json ? 'json' : options.logFormat
  // Every line of this command goes through the batch, so they stay in order; what waits is written on
  // any exit (a second signal's process.exit too).
  const log = new BatchedLog()
  const flushLog = (): void => log.flushSync()
  process.on('exit', flushLog)
  try {
    return await serve(options, logFormat, log)
  } finally {
    log.flushSync()
    process.off('exit', flushLog)
  }
}

async function serve(options: RelayStartOptions, logFormat: LogFormat, log: BatchedLog): Promise<{address: string} | undefined> {
  const traffic = prepareInspector(options.inspect, '--inspect')
  const signalled = stopSignal()
  let reloading = Promise.resolve()
  // Installed before the relay starts (a SIGHUP would otherwise kill the process), so it finds the relay here.
  const started: {relay?: Awaited<ReturnType<typeof startRelayServer>>} = {}
  const onHangup = (): void => {
    reloading = reloading.then(() => reload())
  }

  const reload = async (): Promise<void> => {
    try {
      const config = await loadRelayConfig(options.configPath)
      await started.relay?.reload(config)
      log.write(formatEventLog({config: options.configPath, event: 'config reloaded', requests: config.requests.size}, logFormat))
    } catch (error) {
      log.write(formatEventLog({config: options.configPath, event: 'config reload failed, keeping the previous config', reason: (error as Error).message}, logFormat))
    }
  }

  process.on('SIGHUP', onHangup)
  const config = await loadRelayConfig(options.configPath)
  const observed = options.metrics
    ? observeTraffic({
        connections: () => ({authenticating: 0, open: started.relay?.connections ?? 0}),
        protocol: 'relay',
        refusedCounted: () => ({cap: started.relay?.refusedConnections ?? 0}),
      })
    : undefined
  const relay = await startRelayServer({
    config,
    idleTimeoutMs: options.idleTimeoutMs,
    listen: options.listen,
    maxConnections: options.maxConnections,
    onEvent: (event: RelayServerEvent) => log.write(formatEventLog({...event}, logFormat)),
    onRequest: (entry) => log.write(formatRelayLog(entry, logFormat)),
    socketMode: options.socketMode,
    traffic: servedLog(traffic, observed),
  })
  started.relay = relay
  const inspector = traffic && (await startOwnInspector(options.inspect, traffic, relayInspectTarget(relay)).catch(async (error: unknown) => {
    await relay.close()
    throw error
  }))
  const inspectorAt = inspector && inspectorUrl(inspector.address.address, inspector.address.port, options.inspect.token)
  let stopping = false
  const metricsPort =
    observed &&
    (await startMetricsPort(options.metrics, {metrics: observed.metrics, ready: () => ({ready: !stopping, reason: stopping ? 'draining' : 'listening'})}, logFormat).catch(async (error: unknown) => {
      await relay.close({drainMs: 0})
      throw error
    }))
  if (logFormat === 'json') {
    log.write(JSON.stringify({address: relay.address, config: options.configPath, event: 'listening', ...(inspectorAt ? {inspector: inspectorAt} : {}), requests: config.requests.size, time: new Date().toISOString()}) + '\n')
  } else {
    log.write(`${c.green('relay')} listening on ${c.bold(escapeControl(relay.address))} (${config.requests.size} requests from ${escapeControl(options.configPath)}; SIGHUP reloads it)\n`)
    if (inspectorAt) log.write(c.dim(`inspector ${inspectorAt}\n`))
  }

  // A supervisor waits for this line: it is not left for the end of the turn.
  log.flushSync()
  const signal = await signalled
  process.off('SIGHUP', onHangup)
  stopping = true
  log.write(c.dim(`${signal}: finishing requests in flight, then stopping\n`))
  log.flushSync()
  await inspector?.close()
  await relay.close()
  await metricsPort?.close()
  log.write(c.dim('relay stopped\n'))
  return options.json ? {address: relay.address} : undefined
}

/**
 * One line per request: name, id, outcome, HTTP status, time. Never params, bodies or headers. The name
 * and id come from the client: cut to a bound, and in text form with control characters escaped (a name
 * holding CR/LF or an escape sequence must not forge log lines or drive the terminal).
 */
function formatRelayLog(entry: RelayRequestLog, format: LogFormat): string {
  const time = isoNow()
  const id = cut(idText(entry.id), MAX_LOGGED_ID_CHARS)
  const request = entry.request === null ? null : cut(entry.request, MAX_LOGGED_NAME_CHARS)
  if (format === 'json') return JSON.stringify({code: entry.code, httpStatus: entry.httpStatus, id, request, status: entry.status, time, timeMs: Math.round(entry.timeMs * 100) / 100}) + '\n'

  const styled = styledWords()
  const status = entry.httpStatus === undefined ? '-' : String(entry.httpStatus)
  const detail = entry.code ? `${status} ${entry.code}` : status
  return `${styled.dim(time)} ${escapeControl(request ?? '-')} id=${escapeControl(id)} ${entry.status === 'ok' ? styled.ok : styled.error} ${detail} ${decimalText(entry.timeMs, 2)}ms\n`
}

// A line per request at thousands a second: the clock's text is made once per millisecond, and the
// fixed words are styled once per colour level (the level is set once at start-up, by --color or the terminal).
let isoMs = -1
let isoText = ''
function isoNow(): string {
  const now = Date.now()
  if (now !== isoMs) {
    isoMs = now
    isoText = new Date(now).toISOString()
  }

  return isoText
}

let styled: {level: number; ok: string; error: string; dim: (text: string) => string} | undefined
function styledWords(): NonNullable<typeof styled> {
  const {level} = c
  if (styled?.level !== level) styled = {dim: level === 0 ? (text) => text : (text) => c.dim(text), error: c.red('error'), level, ok: c.green('ok')}
  return styled
}

function idText(id: unknown): string {
  // A number's JSON text is its String() (ids come from JSON.parse: finite).
  if (typeof id === 'number') return String(id)
  try {
    return JSON.stringify(id) ?? 'null'
  } catch {
    // Refused by the relay already (RW_ERR_JSON); the log must not throw on it either.
    return '(nested too deeply)'
  }
}

const cut = (text: string, max: number): string => (text.length > max ? text.slice(0, max) + '...' : text)
