// `tunnel gateway` glue: start the gateway and its HTTP API, log node events on stderr, stop on SIGINT/SIGTERM.
import {join} from 'node:path'
import {formatHostPort} from '../core/address.js'
import {localPaths} from '../core/home.js'
import {startTunnelGateway} from '../core/tunnel/gateway.js'
import {startTunnelHttpApi} from '../core/tunnel/http-api.js'
import {resolveClientIdentity} from './identities.js'
import {stderrColors as c} from './output.js'
import {type LogFormat, writeEventLog} from './request-log.js'
import {stopSignal} from './serve-until-signal.js'

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
}

export async function runTunnelGateway(options: TunnelGatewayCliOptions): Promise<{port: number; http: string} | undefined> {
  const logFormat: LogFormat = options.json ? 'json' : options.logFormat
  const signalled = stopSignal()
  const {identities} = await resolveClientIdentity(options.identityPaths, undefined)
  const knownNodesPath = options.knownNodesPath ?? join(localPaths().home, 'known_nodes')
  const gateway = await startTunnelGateway({
    acceptNew: options.acceptNew,
    host: options.host,
    identities,
    knownNodesPath,
    onEvent(event) {
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
    timeoutMs: options.timeoutMs,
  })
  const api = await startTunnelHttpApi(gateway, {...options.http, maxConnections: options.maxHttpConnections}).catch(async (error: unknown) => {
    await gateway.close()
    throw error
  })

  const {port} = gateway.address
  const apiAddress = api.address
  const http = `http://${formatHostPort(apiAddress.address, apiAddress.port)}`
  if (logFormat === 'json') {
    process.stderr.write(JSON.stringify({time: new Date().toISOString(), event: 'listening', address: gateway.address.address, port, http, knownNodes: knownNodesPath}) + '\n')
  } else {
    process.stderr.write(`${c.green('tunnel gateway')} listening for nodes on ${c.bold(formatHostPort(gateway.address.address, port))}, HTTP API on ${c.bold(http)}\n`)
    process.stderr.write(c.dim(`known nodes ${knownNodesPath}${options.acceptNew ? ' (accepting new nodes)' : ''}\n`))
  }

  const signal = await signalled
  process.stderr.write(c.dim(`${signal}: closing the HTTP API and disconnecting nodes\n`))
  await api.close().catch(() => {})
  await gateway.close().catch(() => {})
  process.stderr.write(c.dim('tunnel gateway stopped\n'))
  return options.json ? {http, port} : undefined
}
