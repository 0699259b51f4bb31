// How `korv call`'s fast paths (the persisted one, cli/korv-persisted-call.ts, and the cold one,
// korv-call-cold-entry.ts) print an error once the call has begun: as the full command's
// BaseCommand.catch does (the same parse context, exit code, --json document or stderr text).
import {errorDocument} from './envelope.js'
import {formatJson, renderError, writeStderr, writeStdout} from './output.js'
import {toRestwireError} from './parse-errors.js'

export function printCallError(error: Error, json: boolean, bin: string): void {
  const rwError = toRestwireError(error, {args: ['VERB', 'PATH'], flags: [], id: 'korv:call', usage: `${bin} korv call`})
  process.exitCode = rwError.exitCode
  if (json) writeStdout(formatJson(errorDocument(rwError)))
  else writeStderr(renderError(rwError, false))
}
