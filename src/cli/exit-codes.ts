// What the call commands exit with, from what the peer answered (docs/errors.md): one rule for a status
// (8 for 4xx, 9 for 5xx), used by korv call and tunnel call as is, and under pipe's event codes and the
// relay's error replies.
import {ERROR_CATALOGUE, type ErrorCode} from '../core/errors.js'
import {RETURN_HANDLER_RAISED, RETURN_OK} from '../core/pipe/messages.js'
import type {RelayFinalReply} from '../core/relay/client.js'

/** A status the peer gives as a failure: 9 (RW_ERR_REMOTE_5XX) from 500 on, else 8 (RW_ERR_REMOTE_4XX). */
export function exitCodeForFailedStatus(status: number): number {
  return status >= 500 ? ERROR_CATALOGUE.RW_ERR_REMOTE_5XX.exitCode : ERROR_CATALOGUE.RW_ERR_REMOTE_4XX.exitCode
}

/** 0 below 400, 8 for 4xx, 9 for 5xx. */
export function exitCodeForStatus(status: number): number {
  return status >= 400 ? exitCodeForFailedStatus(status) : 0
}

/**
 * pipe call: the gateway's status first (404 unknown node: 8; 503 not connected, 504 no reply: 9), then the
 * event's return code: 0 ok; 9 when the handler raised (251) or chose a code from 500 to 599; 8 for any
 * other (255 no handler, a handler's own "no"). No code at all (no X-Event-Return-Code) is 0.
 */
export function exitCodeForPipeReply(status: number, code: number | null): number {
  if (status >= 400) return exitCodeForStatus(status)
  if (code === null || code === RETURN_OK) return 0
  if (code === RETURN_HANDLER_RAISED || (code >= 500 && code <= 599)) return ERROR_CATALOGUE.RW_ERR_REMOTE_5XX.exitCode
  return ERROR_CATALOGUE.RW_ERR_REMOTE_4XX.exitCode
}

/**
 * relay send: 0 for ok. For an error: the exit code of its RW_ERR_* code (2 rejected line, 7 timeout, 8
 * unexpected status below 500, 9 status 500+, 11 line too long, 13 upstream unreachable/TLS/too large); a
 * relay that sends no code (txhttprelay): 9 for status 500+, 8 for another status, else 13.
 */
export function exitCodeForRelayReply(reply: RelayFinalReply): number {
  if (reply.status === 'ok') return 0
  const code = (reply.response as {code?: unknown} | null)?.code
  if (typeof code === 'string' && code in ERROR_CATALOGUE) return ERROR_CATALOGUE[code as ErrorCode].exitCode
  if (typeof reply.http_status === 'number') return exitCodeForFailedStatus(reply.http_status)
  return ERROR_CATALOGUE.RW_ERR_RELAY_UPSTREAM.exitCode
}
