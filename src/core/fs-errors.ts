// Short, human reasons for file system errors, so messages can say "<file>: <reason>".
import {errnoCode} from './errors.js'

export function fileErrorReason(error: unknown): string {
  switch (errnoCode(error)) {
    case 'ENOENT':
      return 'no such file or directory'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EISDIR':
      return 'is a directory, not a file'
    case 'ENOTDIR':
      return 'a parent of this path is not a directory'
    case 'EROFS':
      return 'read-only file system'
    case 'ENOSPC':
      return 'no space left on device'
    default:
      return error instanceof Error ? error.message : String(error)
  }
}
