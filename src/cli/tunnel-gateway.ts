// `tunnel gateway` glue: start the gateway and its HTTP API, log node events on stderr, stop on SIGINT/SIGTERM.
import {join} from 'node:path'
import {formatHostPort} from '../core/address.js'
import type {ClusterOptions} from '../core/cluster/nats-link.js'
import type {TunnelCluster} from '../core/cluster/tunnel-cluster.js'
import {localPaths} from '../core/home.js'
import {startTunnelGateway} from '../core/tunnel/gateway.js'
import {type TunnelHttpApiHandle, startTunnelHttpApi} from '../core/tunnel/http-api.js'
import {tunnelInspectTarget} from '../core/tunnel/inspect-target.js'
import {type InspectCliOptions, inspectorUrl, mountInspector, prepareInspector, servedLog} from './inspect.js'
import {clusterJoinOptions} from './cluster-flags.js'
import {resolveClientIdentity} from './identities.js'
import {stderrColors as c} from './output.js'
import {type LogFormat, writeEventLog} from './request-log.js'
import {stopSignal} from './serve-until-signal.js'
import type {TunnelGatewayHandle} from '../core/tunnel/gateway.js'
import {observeTraffic} from './observe.js'

export interface TunnelGatewayCliOptions {
  host: string
  port: number
  http: {host: string; port: number}
  identityPaths?: string[]
  knownNodesPath?: string
  acceptNew: boolean
  timeoutMs: number
  loginGraceMs: number
  maxStartups: number
  maxHttpConnections: number
  maxInFlight: number
  logFormat: LogFormat
  json: boolean
  /** Join a cluster of gateways over NATS (docs/cluster.md). */
  cluster?: ClusterOptions
  /** The inspector at / of the HTTP API (docs/inspect.md); off with --no-inspect. */
  inspect: {enabled: boolean; token?: string}
}

export async function runTunnelGateway(options: TunnelGatewayCliOptions): Promise<{port: number; http: string} | undefined> {
  const logFormat: LogFormat = options.json ? 'json' : options.logFormat
  const inspect: InspectCliOptions = {address: options.inspect.enabled ? options.http : undefined, token: options.inspect.token}
  const traffic = prepareInspector(inspect, '--http')
  const signalled = stopSignal()
  const {identities} = await resolveClientIdentity(options.identityPaths, undefined)
  const knownNodesPath = options.knownNodesPath ?? join(localPaths().home, 'known_nodes')
  const cluster = options.cluster ? await joinCluster(options.cluster, logFormat) : undefined
  // Filled once the server is up: the metrics read it at scrape time.
  const started: {server?: TunnelGatewayHandle; api?: TunnelHttpApiHandle} = {}
  let registry: ReturnType<TunnelCluster['registry']> | undefined
  // Always on: /metrics, /healthz and /readyz live on the HTTP API's port.
  const observed = observeTraffic({
    cluster: () => {
      if (!cluster || !registry) return undefined
      const remoteNodes = registry.list().filter(([, node]) => node.gateway !== undefined).length
      return {hubs: registry.cluster().hubs.length, remoteNodes, state: cluster.state}
    },
    connections: () => started.server?.connectionStats() ?? {authenticating: 0, open: 0},
    protocol: 'tunnel',
    refusedCounted: () => ({cap: started.api?.refusedConnections ?? 0}),
  })
  const gateway = await startTunnelGateway({
    acceptNew: options.acceptNew,
    host: options.host,
    identities,
    knownNodesPath,
    onEvent(event) {
      if (event.type === 'node-refused') observed.metrics.refusedConnection(event.reason)
      else if (event.type === 'node-rejected') observed.metrics.refusedConnection('auth')
      if (event.type === 'node-connected') writeEventLog({address: event.address, event: 'node connected', fingerprint: event.fingerprint, node: event.nodeId}, logFormat)
      else if (event.type === 'node-replaced') writeEventLog({address: event.address, event: 'node replaced', node: event.nodeId}, logFormat)
      else if (event.type === 'node-disconnected') writeEventLog({event: 'node disconnected', node: event.nodeId, reason: event.reason}, logFormat)
      else if (event.type === 'node-refused') writeEventLog({address: event.address, event: 'node refused', reason: event.reason === 'cap' ? 'too many connections still in the handshake (--max-startups)' : 'not registered within --login-grace'}, logFormat)
      else writeEventLog({address: event.address, error: event.error.code, event: 'node rejected', reason: event.error.message}, logFormat)
    },
    loginGraceMs: options.loginGraceMs,
    maxInFlight: options.maxInFlight,
    maxStartups: options.maxStartups,
    port: options.port,
    registry: cluster && ((local) => (registry = cluster.registry(local))),
    timeoutMs: options.timeoutMs,
    traffic: servedLog(traffic, observed),
  }).catch(async (error: unknown) => {
    await cluster?.close()
    throw error
  })
  const inspector = traffic && (await mountInspector(inspect, traffic, tunnelInspectTarget(gateway)))
  started.server = gateway
  let stopping = false
  const ready = (): {ready: boolean; reason: string} => {
    if (stopping) return {ready: false, reason: 'stopping'}
    if (cluster && cluster.state !== 'connected') return {ready: false, reason: 'cluster degraded: NATS unreachable'}
    return {ready: true, reason: cluster ? 'listening, cluster connected' : 'listening'}
  }
  const api = await startTunnelHttpApi(gateway, {
    ...options.http,
    inspector,
    maxConnections: options.maxHttpConnections,
    observe: {metrics: observed.metrics, ready},
    onRefused: (refused, cap) => writeEventLog({event: 'http connections refused', reason: `${cap} HTTP API connections open (--max-http-connections)`, refused}, logFormat),
  }).catch(async (error: unknown) => {
    await gateway.close()
    await cluster?.close()
    throw error
  })

  started.api = api
  const {port} = gateway.address
  const apiAddress = api.address
  const http = `http://${formatHostPort(apiAddress.address, apiAddress.port)}`
  if (logFormat === 'json') {
    const clustered = options.cluster && {cluster: {hub: cluster?.hubName, name: options.cluster.name}}
    const inspected = inspector && {inspector: inspectorUrl(apiAddress.address, apiAddress.port, inspect.token)}
    process.stderr.write(JSON.stringify({time: new Date().toISOString(), event: 'listening', address: gateway.address.address, port, http, knownNodes: knownNodesPath, ...clustered, ...inspected}) + '\n')
  } else {
    process.stderr.write(`${c.green('tunnel gateway')} listening for nodes on ${c.bold(formatHostPort(gateway.address.address, port))}, HTTP API on ${c.bold(http)}\n`)
    process.stderr.write(c.dim(`known nodes ${knownNodesPath}${options.acceptNew ? ' (accepting new nodes)' : ''}\n`))
    if (inspector) process.stderr.write(c.dim(`inspector ${inspectorUrl(apiAddress.address, apiAddress.port, inspect.token)}\n`))
    if (options.cluster) process.stderr.write(c.dim(`cluster "${options.cluster.name}" as gateway ${cluster?.hubName} through ${options.cluster.servers.join(', ')}\n`))
  }

  const signal = await signalled
  stopping = true
  process.stderr.write(c.dim(`${signal}: closing the HTTP API and disconnecting nodes\n`))
  inspector?.close()
  await api.close().catch(() => {})
  await gateway.close().catch(() => {})
  await cluster?.close().catch(() => {})
  process.stderr.write(c.dim('tunnel gateway stopped\n'))
  return options.json ? {http, port} : undefined
}

/** The NATS client loads only here: a gateway without --cluster never reads it. */
async function joinCluster(options: ClusterOptions, logFormat: LogFormat): Promise<TunnelCluster> {
  const {joinTunnelCluster} = await import('../core/cluster/tunnel-cluster.js')
  return joinTunnelCluster(clusterJoinOptions(options, logFormat, 'this gateway\'s nodes'))
}
