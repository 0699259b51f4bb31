// Start-up lines and the log of pipe state changes on stderr, as text or JSON (--log-format).
import type {PipeHubEvent} from '../core/pipe/hub.js'
import type {PipeNodeEvent} from '../core/pipe/node.js'
import {stderrColors as c} from './output.js'
import {type LogFormat, writeEventLog} from './request-log.js'

export function logHubEvent(event: PipeHubEvent, format: LogFormat): void {
  if (event.type === 'node-connected') writeEventLog({address: event.address, event: 'node connected', node: event.node}, format)
  else if (event.type === 'node-replaced') writeEventLog({address: event.address, event: 'node replaced by a newer connection', node: event.node}, format)
  else if (event.type === 'node-disconnected') writeEventLog({error: event.error?.code, event: 'node disconnected', node: event.node, reason: event.reason}, format)
  else writeEventLog({address: event.address, event: 'node rejected', reason: event.reason}, format)
}

export function logNodeEvent(event: PipeNodeEvent, format: LogFormat): void {
  if (event.type === 'connecting') writeEventLog({attempt: event.attempt, event: 'connecting', to: `${event.host}:${event.port}`}, format)
  else if (event.type === 'connected') writeEventLog({event: 'connected', to: `${event.host}:${event.port}`}, format)
  else if (event.type === 'disconnected') writeEventLog({event: 'disconnected', reason: event.reason}, format)
  else writeEventLog({attempt: event.attempt, delayMs: event.delayMs, event: 'retrying', hint: retryHint(event)}, format)
}

/** A dial that cannot succeed as typed gets a hint; the node keeps redialling (the name may appear later). */
function retryHint(event: Extract<PipeNodeEvent, {type: 'retrying'}>): string | undefined {
  if (event.code !== 'ENOTFOUND' && event.code !== 'EAI_AGAIN') return undefined
  return "the hub's name does not resolve: check --to (still redialling)"
}

export function writeStartLine(fields: Record<string, unknown>, text: string, format: LogFormat): void {
  if (format === 'json') process.stderr.write(JSON.stringify({time: new Date().toISOString(), ...fields}) + '\n')
  else process.stderr.write(text + '\n')
}

export {c as colors}
