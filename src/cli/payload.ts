// Reads a request body given with --data (inline, @file or @- for stdin).
import {readFile} from 'node:fs/promises'
import {RestwireError, errnoCode} from '../core/errors.js'
import type {PayloadSource} from './flags.js'

export async function readPayload(source: PayloadSource | undefined): Promise<unknown> {
  if (!source) return null
  if (source.kind === 'inline') return source.value
  const origin = source.kind === 'stdin' ? 'stdin' : source.path
  let content: string
  try {
    content = source.kind === 'stdin' ? await (await import('node:stream/consumers')).text(process.stdin) : await readFile(source.path, 'utf8')
  } catch (error) {
    const reason = errnoCode(error) === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new RestwireError('RW_ERR_USAGE', `cannot read the request body from ${origin}: ${reason}`, {cause: error})
  }

  if (content.trim() === '') return null
  try {
    return JSON.parse(content)
  } catch (error) {
    throw new RestwireError('RW_ERR_USAGE', `the request body in ${origin} is not valid JSON: ${(error as Error).message}`, {cause: error})
  }
}
