// Loads handlers from a user's JS or TS module (--routes FILE). Accepted shapes:
//   export default {'GET /hello': () => ({msg: 'hi'}), 'STORE /users': async (req) => [201, req.body]}
//   export const routes = {...}                        (same map, named export)
//   export default function (server) { server.route('GET', '/x', handler) }   (may be async)
import {stat} from 'node:fs/promises'
import {isAbsolute, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {importModule} from '../dynamic-import.js'
import {RestwireError, errnoCode} from '../errors.js'
import type {Handler} from './request.js'
import type {Router} from './router.js'

/** Where routes go: the protocol's server, whose route() maps verb aliases and refuses unknown verbs. */
export interface RouteTarget {
  route(verb: string, path: string, handler: Handler): unknown
  readonly router: Router
}

export async function loadRoutesModule(file: string, target: RouteTarget): Promise<number> {
  const path = isAbsolute(file) ? file : resolve(file)
  try {
    await stat(path)
  } catch (error) {
    const reason = errnoCode(error) === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new RestwireError('RW_ERR_CONFIG', `cannot load routes from ${path}: ${reason}`, {cause: error})
  }

  let module: Record<string, unknown>
  try {
    module = /\.[cm]?ts$/.test(path) ? await importTypeScript(path) : await importModule(pathToFileURL(path).href)
  } catch (error) {
    throw new RestwireError('RW_ERR_CONFIG', `cannot load routes from ${path}: ${(error as Error).message}`, {cause: error})
  }

  const exported = unwrapCommonJs(module.default ?? module.routes)
  const before = target.router.routes().length
  if (typeof exported === 'function') {
    await (exported as (target: RouteTarget) => unknown)(target)
  } else if (exported && typeof exported === 'object') {
    for (const [key, handler] of Object.entries(exported)) {
      const match = /^\s*([A-Za-z]+)\s+(\/\S*)\s*$/.exec(key)
      if (!match) throw new RestwireError('RW_ERR_CONFIG', `${path}: route key "${key}" must look like "GET /path"`)
      if (typeof handler !== 'function') throw new RestwireError('RW_ERR_CONFIG', `${path}: route "${key}" is not a function`)
      try {
        target.route(match[1]!, match[2]!, handler as Handler)
      } catch (error) {
        throw new RestwireError('RW_ERR_CONFIG', `${path}: route "${key}": ${(error as Error).message}`, {cause: error})
      }
    }
  } else {
    throw new RestwireError('RW_ERR_CONFIG', `${path} exports no routes`, {
      hint: 'Export default an object like {"GET /hello": () => ({msg: "hi"})}, or a function that takes the router.',
    })
  }

  const added = target.router.routes().length - before
  if (added === 0) throw new RestwireError('RW_ERR_CONFIG', `${path} defines no routes`)
  return added
}

/** A TypeScript module loaded as CommonJS arrives as {default: {...}}: look inside. */
function unwrapCommonJs(exported: unknown): unknown {
  if (!exported || typeof exported !== 'object') return exported
  const keys = Object.keys(exported).filter((key) => key !== '__esModule')
  const inner = exported as {default?: unknown; routes?: unknown}
  if (keys.length > 0 && keys.every((key) => key === 'default' || key === 'routes')) return inner.default ?? inner.routes
  return exported
}

async function importTypeScript(path: string): Promise<Record<string, unknown>> {
  const {tsImport} = (await importModule('tsx/esm/api')) as unknown as typeof import('tsx/esm/api')
  return (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>
}
