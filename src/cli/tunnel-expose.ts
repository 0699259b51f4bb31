// `tunnel expose` glue: start the node, log every state change on stderr, close on SIGINT/SIGTERM.
import {RestwireError} from '../core/errors.js'
import {type ExposeServiceOptions, startExposeService} from '../core/tunnel/expose-service.js'
import type {GatewayAddress, TunnelNodeEvent} from '../core/tunnel/node.js'
import {formatHostPort} from '../core/address.js'
import {stderrColors as c} from './output.js'
import {askPassphrase} from './prompts.js'
import {type LogFormat, writeEventLog} from './request-log.js'
import {stopSignal} from './serve-until-signal.js'
import type {TcpAddress} from '../core/address.js'
import {observeTraffic, startMetricsPort} from './observe.js'

export interface TunnelExposeOptions extends Omit<ExposeServiceOptions, 'onEvent' | 'keyOptions' | 'traffic'> {
  logFormat: LogFormat
  /** `--metrics`: where /metrics, /healthz and /readyz are served; off when absent. */
  metrics?: TcpAddress
}

export interface TunnelExposeResult {
  nodeId: string
  connected: boolean
}

export async function runTunnelExpose(options: TunnelExposeOptions): Promise<TunnelExposeResult> {
  const {logFormat} = options
  const signalled = stopSignal()
  let connected = false
  let up = false
  const observed = options.metrics ? observeTraffic({protocol: 'tunnel'}) : undefined
  observed?.metrics.setPeerConnected(false)
  // The node dials at once; hold its first events until the start line is out, so the log reads in order.
  let held: TunnelNodeEvent[] | undefined = []
  const service = await startExposeService({
    ...options,
    keyOptions: {askPassphrase: process.stdin.isTTY ? askPassphrase : undefined},
    onEvent(event) {
      if (event.type === 'connected') connected = true
      if (event.type === 'connected' || event.type === 'disconnected') observed?.metrics.setPeerConnected((up = event.type === 'connected'))
      else if (event.type === 'retrying') observed?.metrics.redialed()
      else if (event.type === 'auth-rejected') observed?.metrics.refusedConnection('auth')
      if (held) held.push(event)
      else logNodeEvent(event, logFormat)
    },
    traffic: observed?.traffic,
  })
  const {node} = service
  const metricsPort =
    observed &&
    (await startMetricsPort(options.metrics, {metrics: observed.metrics, ready: () => ({ready: up, reason: up ? 'connected to a gateway' : 'no gateway connected'})}, logFormat).catch(async (error: unknown) => {
      await service.close()
      throw error
    }))
  const started = {
    authorizedKeys: service.authorizedKeysPath,
    created: service.created,
    event: 'node started',
    handler: service.handlerSource,
    hostKeys: service.hostKeys.map((key) => key.fingerprint),
    nodeId: node.nodeId,
    routes: service.routes.map(({path, verb}) => `${verb} ${path}`),
  }
  if (logFormat === 'json') process.stderr.write(JSON.stringify({time: new Date().toISOString(), ...started}) + '\n')
  else {
    for (const file of service.created) process.stderr.write(c.dim(`created ${file}\n`))
    process.stderr.write(`${c.green('tunnel node')} ${c.bold(node.nodeId)} (${service.handlerSource}, ${service.routes.length} routes)\n`)
    for (const key of service.hostKeys) process.stderr.write(c.dim(`host key ${key.fingerprint} ${key.path}\n`))
    process.stderr.write(c.dim(`authorized gateways ${service.authorizedKeysPath}\n`))
  }

  for (const event of held) logNodeEvent(event, logFormat)
  held = undefined
  const signal = await Promise.race([signalled, node.done.then(() => undefined)])
  if (signal) writeEventLog({event: 'stopping', signal}, logFormat)

  await service.close().catch(() => {})
  await metricsPort?.close()
  writeEventLog({event: 'node stopped', nodeId: node.nodeId}, logFormat)
  if (!signal && options.once && !connected) {
    const gateways = (Array.isArray(options.to) ? options.to : [options.to as GatewayAddress]).map(({host, port}) => formatHostPort(host, port))
    throw new RestwireError('RW_ERR_CONNECT', `the node never connected to ${gateways.length === 1 ? 'the gateway at' : 'any of the gateways'} ${gateways.join(', ')}`, {
      hint: 'Is `restwire tunnel gateway` running there, and does it trust this node?',
    })
  }

  return {connected, nodeId: node.nodeId}
}

function logNodeEvent(event: TunnelNodeEvent, format: LogFormat): void {
  switch (event.type) {
    case 'connecting':
      writeEventLog({attempt: event.attempt, event: 'connecting', to: `${event.host}:${event.port}`}, format)
      break
    case 'connected':
      writeEventLog({event: 'connected', to: `${event.host}:${event.port}`}, format)
      break
    case 'disconnected':
      writeEventLog({event: 'disconnected', reason: event.reason}, format)
      break
    case 'retrying':
      if (format === 'json') writeEventLog({attempt: event.attempt, delayMs: event.delayMs, event: 'retrying'}, format)
      else writeEventLog({attempt: event.attempt, event: `retrying in ${event.delayMs} ms`}, format)
      break
    case 'auth-rejected':
      writeEventLog({event: 'auth-rejected', fingerprint: event.fingerprint, reason: event.reason}, format)
      break
    case 'protocol-error':
      writeEventLog({error: event.error.code, event: 'protocol-error', reason: event.error.message}, format)
      break
  }
}
