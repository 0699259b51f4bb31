// `pipe serve` and `pipe connect` glue: identity, handlers, the hub or node and its local gateway; log
// state changes on stderr; drain and stop on SIGINT/SIGTERM.
import {formatHostPort} from '../core/address.js'
import type {ClusterOptions, PipeCluster} from '../core/cluster/pipe-cluster.js'
import {startPipeGateway} from '../core/pipe/gateway.js'
import {type PipeHandlerSetupOptions, setUpPipeHandler} from '../core/pipe/handler-setup.js'
import {startPipeHub} from '../core/pipe/hub.js'
import {pipeInspectTarget} from '../core/pipe/inspect-target.js'
import {connectPipeNode} from '../core/pipe/node.js'
import {type PipeIdentityOptions, loadPipeIdentity} from '../core/pipe/tls-identity.js'
import {clusterJoinOptions} from './cluster-flags.js'
import {type InspectCliOptions, inspectorUrl, mountInspector, prepareInspector, servedLog} from './inspect.js'
import {stderrColors as c} from './output.js'
import {logHubEvent, logNodeEvent, writeStartLine} from './pipe-log.js'
import type {LogFormat} from './request-log.js'
import {stopSignal} from './serve-until-signal.js'
import type {PipeHubHandle} from '../core/pipe/hub.js'
import {observeTraffic} from './observe.js'

interface PipeCommonOptions {
  identity: PipeIdentityOptions
  handlers: Omit<PipeHandlerSetupOptions, 'side'>
  http: {host: string; port: number}
  heartbeatMs: number
  timeoutMs: number
  logFormat: LogFormat
  json: boolean
}

export interface PipeServeOptions extends PipeCommonOptions {
  host: string
  port: number
  loginGraceMs: number
  maxStartups: number
  /** Join a cluster of hubs over NATS (docs/cluster.md). */
  cluster?: ClusterOptions
  /** The inspector at / of the HTTP gateway (docs/inspect.md); off with --no-inspect. */
  inspect: {enabled: boolean; token?: string}
}

export interface PipeConnectOptions extends PipeCommonOptions {
  /** One hub or several of one cluster. */
  to: Array<{host: string; port: number}>
  hubName?: string
  maxBackoffMs: number
}

export interface PipeServeResult {
  port: number
  http: string
}

async function untilSignal(signal: Promise<NodeJS.Signals>, what: string, close: () => Promise<void>): Promise<void> {
  const received = await signal
  process.stderr.write(c.dim(`${received}: stopping the ${what}\n`))
  await close().catch(() => {})
  process.stderr.write(c.dim(`pipe ${what} stopped\n`))
}

export async function runPipeServe(options: PipeServeOptions): Promise<PipeServeResult | undefined> {
  const logFormat: LogFormat = options.json ? 'json' : options.logFormat
  const inspect: InspectCliOptions = {address: options.inspect.enabled ? options.http : undefined, token: options.inspect.token}
  const traffic = prepareInspector(inspect, '--http')
  const signal = stopSignal()
  const identity = await loadPipeIdentity({name: 'hub', ...options.identity})
  const setup = await setUpPipeHandler({...options.handlers, side: 'hub'})
  const cluster = options.cluster ? await joinCluster(options.cluster, logFormat) : undefined
  // Filled once the server is up: the metrics read it at scrape time.
  const started: {server?: PipeHubHandle} = {}
  // Always on: /metrics, /healthz and /readyz live on the gateway's port.
  const observed = observeTraffic({
    cluster: () => {
      const view = started.server?.cluster()
      if (!view) return undefined
      const remoteNodes = started.server!.nodes().filter((node) => node.hub !== undefined && node.hub !== view.hub).length
      return {hubs: view.hubs.length, remoteNodes, state: view.state}
    },
    connections: () => started.server?.connectionStats() ?? {authenticating: 0, open: 0},
    protocol: 'pipe',
  })
  const hub = await startPipeHub({
    handler: setup.handler,
    heartbeatMs: options.heartbeatMs,
    host: options.host,
    identity,
    loginGraceMs: options.loginGraceMs,
    maxStartups: options.maxStartups,
    onEvent: (event) => {
      if (event.type === 'node-rejected' && event.refused) observed.metrics.refusedConnection(event.refused)
      logHubEvent(event, logFormat)
    },
    port: options.port,
    registry: cluster && ((local) => cluster.registry(local)),
    traffic: servedLog(traffic, observed),
  }).catch(async (error: unknown) => {
    await cluster?.close()
    throw error
  })
  const inspector = traffic && (await mountInspector(inspect, traffic, pipeInspectTarget(hub, options.timeoutMs)))
  started.server = hub
  let stopping = false
  const hubReady = (): {ready: boolean; reason: string} => {
    if (stopping) return {ready: false, reason: 'stopping'}
    if (cluster && cluster.state !== 'connected') return {ready: false, reason: 'cluster degraded: NATS unreachable'}
    return {ready: true, reason: cluster ? 'listening, cluster connected' : 'listening'}
  }
  const gateway = await startPipeGateway({hub, kind: 'hub'}, {...options.http, inspector, observe: {metrics: observed.metrics, ready: hubReady}, timeoutMs: options.timeoutMs}).catch(async (error: unknown) => {
    await hub.close()
    await cluster?.close()
    throw error
  })
  const {address, port} = hub.address
  const inspectorAt = inspector && inspectorUrl(gateway.address.address, gateway.address.port, inspect.token)
  writeStartLine(
    {cluster: options.cluster && {hub: cluster?.hubName, name: options.cluster.name}, event: 'listening', host: address, http: gateway.url, ...(inspectorAt ? {inspector: inspectorAt} : {}), port, sources: setup.sources},
    `${c.green('pipe hub')} listening for nodes on ${c.bold(formatHostPort(address, port))} (mutual TLS), gateway ${c.bold(gateway.url)}${
      options.cluster ? `\n${c.dim(`cluster "${options.cluster.name}" as hub ${cluster?.hubName} through ${options.cluster.servers.join(', ')}`)}` : ''
    }\n${c.dim(`handlers: ${setup.sources.join('; ') || 'none'}`)}${inspectorAt ? `\n${c.dim(`inspector ${inspectorAt}`)}` : ''}`,
    logFormat,
  )
  await untilSignal(signal, 'hub', async () => {
    inspector?.close()
    stopping = true
    await gateway.close()
    await hub.close()
    await cluster?.close()
    await setup.close()
  })
  return options.json ? {http: gateway.url, port} : undefined
}

/** The NATS client loads only here: a hub without --cluster never reads it. */
async function joinCluster(options: ClusterOptions, logFormat: LogFormat): Promise<PipeCluster> {
  const {joinPipeCluster} = await import('../core/cluster/pipe-cluster.js')
  return joinPipeCluster(clusterJoinOptions(options, logFormat, 'this hub\'s nodes'))
}

export async function runPipeConnect(options: PipeConnectOptions): Promise<{http: string} | undefined> {
  const logFormat: LogFormat = options.json ? 'json' : options.logFormat
  const signal = stopSignal()
  const identity = await loadPipeIdentity(options.identity)
  const setup = await setUpPipeHandler({...options.handlers, side: 'node'})
  const hubs = options.to.map(({host, port}) => formatHostPort(host, port))
  const observed = observeTraffic({protocol: 'pipe'})
  observed.metrics.setPeerConnected(false)
  const node = connectPipeNode({
    backoff: {maxMs: options.maxBackoffMs},
    handler: setup.handler,
    heartbeatMs: options.heartbeatMs,
    hubName: options.hubName,
    identity,
    onEvent: (event) => {
      if (event.type === 'connected' || event.type === 'disconnected') observed.metrics.setPeerConnected(event.type === 'connected')
      else if (event.type === 'retrying') observed.metrics.redialed()
      logNodeEvent(event, logFormat)
    },
    to: options.to,
    traffic: observed.traffic,
  })
  const nodeReady = (): {ready: boolean; reason: string} => (node.isConnected() ? {ready: true, reason: 'connected to a hub'} : {ready: false, reason: 'no hub connected'})
  const gateway = await startPipeGateway({kind: 'node', node}, {...options.http, observe: {metrics: observed.metrics, ready: nodeReady}, timeoutMs: options.timeoutMs}).catch(async (error: unknown) => {
    await node.close()
    throw error
  })
  writeStartLine(
    {event: 'started', http: gateway.url, sources: setup.sources, to: hubs.join(',')},
    `${c.green('pipe node')} dialling ${c.bold(hubs.join(', '))}, gateway ${c.bold(gateway.url)}\n${c.dim(`handlers: ${setup.sources.join('; ') || 'none'}`)}`,
    logFormat,
  )
  await untilSignal(signal, 'node', async () => {
    await gateway.close()
    await node.close()
    await setup.close()
  })
  return options.json ? {http: gateway.url} : undefined
}
