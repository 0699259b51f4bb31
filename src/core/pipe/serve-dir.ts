// --serve-dir: read-only file serving for `GET file//path/to/file`, streamed. No path may leave the
// directory: `..`, absolute paths, NUL and symbolic links that resolve outside it are all refused.
import {createReadStream} from 'node:fs'
import {open, realpath, stat} from 'node:fs/promises'
import {extname, isAbsolute, join, relative, sep} from 'node:path'
import {RestwireError, errnoCode} from '../errors.js'
import {type PipeHandlerSource, jsonReply} from './handlers.js'
import {RETURN_OK} from './messages.js'

/** Return codes of the file handler besides 0: the path was refused, or names no readable file. */
export const RETURN_PATH_REFUSED = 1
export const RETURN_NO_SUCH_FILE = 2

const CONTENT_TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.gif': 'image/gif',
  '.html': 'text/html; charset=utf-8',
  '.jpg': 'image/jpeg',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml',
  '.zip': 'application/zip',
}

export async function serveDirSource(dir: string): Promise<PipeHandlerSource> {
  let root: string
  try {
    root = await realpath(dir)
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory')
  } catch (error) {
    const reason = errnoCode(error) === 'ENOENT' ? 'no such directory' : (error as Error).message
    throw new RestwireError('RW_ERR_CONFIG', `--serve-dir ${dir}: ${reason}`, {cause: error})
  }

  return async (ctx) => {
    if (ctx.noun !== 'file' || (ctx.verb !== 'GET' && ctx.verb !== 'HEAD')) return undefined
    const wanted = ctx.args.join('/')
    const refused = checkRelativePath(wanted)
    if (refused) return jsonReply(RETURN_PATH_REFUSED, {error: `path refused: ${refused}`})
    let real: string
    try {
      real = await realpath(join(root, wanted))
    } catch {
      return jsonReply(RETURN_NO_SUCH_FILE, {error: `no such file: ${wanted}`})
    }

    // A symbolic link may point anywhere: judge the resolved path, not the one asked for.
    const inside = relative(root, real)
    if (inside === '' || inside.startsWith('..' + sep) || inside === '..' || isAbsolute(inside)) {
      return jsonReply(RETURN_PATH_REFUSED, {error: `path refused: ${wanted} resolves outside the served directory`})
    }

    // Open first and check the open file, so the file that is streamed is the file that was checked.
    let handle
    try {
      handle = await open(real, 'r')
      if (!(await handle.stat()).isFile()) {
        await handle.close()
        return jsonReply(RETURN_NO_SUCH_FILE, {error: `not a regular file: ${wanted}`})
      }
    } catch {
      await handle?.close()
      return jsonReply(RETURN_NO_SUCH_FILE, {error: `cannot read ${wanted}`})
    }

    const contentType = CONTENT_TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream'
    if (ctx.verb === 'HEAD') {
      await handle.close()
      return {code: RETURN_OK, contentType}
    }

    return {body: createReadStream('', {fd: handle, highWaterMark: 64 * 1024}), code: RETURN_OK, contentType}
  }
}

/** Why a relative path asked for is refused, or undefined when it is acceptable. */
export function checkRelativePath(path: string): string | undefined {
  if (path === '') return 'empty path'
  if (path.includes('\0')) return 'NUL in the path'
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path)) return 'absolute path'
  if (path.split(/[/\\]/).includes('..')) return '".." in the path'
  return undefined
}
