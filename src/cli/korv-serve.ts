// `korv serve` glue: start the service, log what it does on stderr, drain and stop on SIGINT/SIGTERM.
import {formatHostPort} from '../core/address.js'
import {type KorvServiceOptions, startKorvService} from '../core/korv/service.js'
import {korvInspectTarget} from '../core/korv/inspect-target.js'
import {type InspectCliOptions, inspectorUrl, prepareInspector, startOwnInspector, servedLog} from './inspect.js'
import {stderrColors as c} from './output.js'
import {askPassphrase} from './prompts.js'
import {stopSignal} from './serve-until-signal.js'
import {type LogFormat, writeEventLog, writeRequestLog} from './request-log.js'
import type {TcpAddress} from '../core/address.js'
import type {KorvServiceHandle} from '../core/korv/service.js'
import {observeTraffic, startMetricsPort} from './observe.js'

export interface KorvServeOptions extends KorvServiceOptions {
  /** `--metrics`: where /metrics, /healthz and /readyz are served; off when absent. */
  metrics?: TcpAddress
  logFormat: LogFormat
  drainMs: number
  json: boolean
  /** `--inspect HOST:PORT` and its token (docs/inspect.md); no address: off. */
  inspect: InspectCliOptions
}

export async function runKorvServe(options: KorvServeOptions): Promise<{address: string; port: number} | undefined> {
  const {logFormat} = options
  const traffic = prepareInspector(options.inspect, '--inspect')
  const signalled = stopSignal()
  // Filled once the server is up: the metrics read it at scrape time.
  const started: {server?: KorvServiceHandle} = {}
  const observed = options.metrics ? observeTraffic({connections: () => started.server?.connectionStats() ?? {authenticating: 0, open: 0}, protocol: 'korv'}) : undefined
  const service = await startKorvService({
    ...options,
    traffic: servedLog(traffic, observed),
    keyOptions: {askPassphrase: process.stdin.isTTY ? askPassphrase : undefined},
    onEvent(event) {
      if (event.type === 'auth-rejected') observed?.metrics.refusedConnection('auth')
      else if (event.type === 'startup-refused') observed?.metrics.refusedConnection(event.reason)
      if (event.type === 'auth-rejected') writeEventLog({address: event.address, event: 'auth rejected', fingerprint: event.fingerprint, reason: event.reason}, logFormat)
      else if (event.type === 'protocol-error') writeEventLog({address: event.address, error: event.error.code, event: 'protocol error', framing: event.framing, reason: event.error.message}, logFormat)
      else if (event.type === 'idle-timeout') writeEventLog({address: event.address, event: 'idle connection closed'}, logFormat)
      else if (event.type === 'startup-refused') {
        const why = event.reason === 'cap' ? 'too many connections authenticating (--max-startups)' : 'not authenticated within --login-grace'
        writeEventLog({address: event.address, event: 'connection refused', reason: why}, logFormat)
      } else if (event.type === 'channel-refused') writeEventLog({address: event.address, event: 'channel refused', reason: event.reason}, logFormat)
      else writeEventLog({address: event.address, event: 'connection error', reason: event.error.message}, logFormat)
    },
    onRequest: (entry) => writeRequestLog(entry, logFormat),
  })
  const inspector = traffic && (await startOwnInspector(options.inspect, traffic, korvInspectTarget({clients: service.clients, handler: service.handler, handlerTimeoutMs: options.handlerTimeoutMs, log: traffic, tracebacks: options.tracebacks})).catch(async (error: unknown) => {
    await service.close({drainMs: 0})
    throw error
  }))
  const inspectorAt = inspector && inspectorUrl(inspector.address.address, inspector.address.port, options.inspect.token)
  started.server = service
  let stopping = false
  const metricsPort = observed && (await startMetricsPort(options.metrics, {metrics: observed.metrics, ready: () => ({ready: !stopping, reason: stopping ? 'draining' : 'listening'})}, logFormat).catch(async (error: unknown) => {
    await service.close({drainMs: 0})
    throw error
  }))
  const {address, port} = service.address
  const listening = {
    address,
    authorizedKeys: service.authorizedKeysPath,
    created: service.created,
    event: 'listening',
    handler: service.handlerSource,
    hostKeys: service.hostKeys.map((key) => key.fingerprint),
    ...(inspectorAt ? {inspector: inspectorAt} : {}),
    port,
  }
  if (logFormat === 'json' || options.json) process.stderr.write(JSON.stringify({time: new Date().toISOString(), ...listening}) + '\n')
  else {
    for (const file of service.created) process.stderr.write(c.dim(`created ${file}\n`))
    process.stderr.write(`${c.green('korv')} listening on ${c.bold(formatHostPort(address, port))} (${service.handlerSource}, ${service.routes.length} routes)\n`)
    for (const key of service.hostKeys) process.stderr.write(c.dim(`host key ${key.fingerprint} ${key.path}\n`))
    process.stderr.write(c.dim(`authorized keys ${service.authorizedKeysPath}\n`))
    if (inspectorAt) process.stderr.write(c.dim(`inspector ${inspectorAt}\n`))
  }

  const signal = await signalled
  stopping = true
  process.stderr.write(c.dim(`${signal}: draining in-flight requests (up to ${options.drainMs} ms)\n`))
  await inspector?.close()
  await service.close({drainMs: options.drainMs}).catch(() => {})
  await metricsPort?.close()
  process.stderr.write(c.dim('korv server stopped\n'))
  return options.json ? {address, port} : undefined
}
