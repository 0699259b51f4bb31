// Loads --handlers FILE: a JS or TS module whose functions are named after verb and noun, RestPipe
// style (`get_time_utc`), exported by name or as the default export object.
import {stat} from 'node:fs/promises'
import {isAbsolute, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {importModule} from '../dynamic-import.js'
import {RestwireError, errnoCode} from '../errors.js'
import type {PipeHandlerFunction} from './handlers.js'

const HANDLER_NAME = /^[a-z][a-z0-9]*_[A-Za-z0-9_]+$/

export async function loadHandlersModule(file: string): Promise<Record<string, PipeHandlerFunction>> {
  const path = isAbsolute(file) ? file : resolve(file)
  try {
    await stat(path)
  } catch (error) {
    const reason = errnoCode(error) === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new RestwireError('RW_ERR_CONFIG', `cannot load handlers from ${path}: ${reason}`, {cause: error})
  }

  let module: Record<string, unknown>
  try {
    module = /\.[cm]?ts$/.test(path) ? await importTypeScript(path) : await importModule(pathToFileURL(path).href)
  } catch (error) {
    throw new RestwireError('RW_ERR_CONFIG', `cannot load handlers from ${path}: ${(error as Error).message}`, {cause: error})
  }

  const functions: Record<string, PipeHandlerFunction> = {}
  const candidates = [module, unwrapDefault(module.default), unwrapDefault(unwrapDefault(module.default)?.default)]
  for (const exported of candidates) {
    if (!exported || typeof exported !== 'object') continue
    for (const [name, value] of Object.entries(exported)) {
      if (typeof value === 'function' && HANDLER_NAME.test(name)) functions[name] ??= value as PipeHandlerFunction
    }
  }

  if (Object.keys(functions).length === 0) {
    throw new RestwireError('RW_ERR_CONFIG', `${path} exports no handlers`, {
      hint: 'Export functions named verb_noun, e.g. `export function get_time_utc(ctx, post, ...args) { return {utc: new Date()} }`.',
    })
  }

  return functions
}

function unwrapDefault(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined
}

async function importTypeScript(path: string): Promise<Record<string, unknown>> {
  const {tsImport} = (await importModule('tsx/esm/api')) as unknown as typeof import('tsx/esm/api')
  return (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>
}
