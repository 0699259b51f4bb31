// Loads handlers from a user's JS or TS module (--routes FILE). Accepted shapes:
//   export default {'GET /hello': () => ({msg: 'hi'}), 'STORE /users': async (req) => [201, req.body]}
//   export const routes = {...}                        (same map, named export)
//   export default function (router) { router.route('GET', '/x', handler) }   (may be async)
import {stat} from 'node:fs/promises'
import {isAbsolute, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {RestwireError, errnoCode} from '../errors.js'
import type {Handler} from './request.js'
import type {Router} from './router.js'

export interface LoadRoutesOptions {
  /** Maps a verb as written in the module to the protocol's canonical verb; undefined = not allowed. */
  canonicalVerb: (verb: string) => string | undefined
}

export async function loadRoutesModule(file: string, router: Router, options: LoadRoutesOptions): Promise<number> {
  const path = isAbsolute(file) ? file : resolve(file)
  try {
    await stat(path)
  } catch (error) {
    const reason = errnoCode(error) === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new RestwireError('RW_ERR_CONFIG', `cannot load routes from ${path}: ${reason}`, {cause: error})
  }

  let module: Record<string, unknown>
  try {
    module = /\.[cm]?ts$/.test(path) ? await importTypeScript(path) : await import(pathToFileURL(path).href)
  } catch (error) {
    throw new RestwireError('RW_ERR_CONFIG', `cannot load routes from ${path}: ${(error as Error).message}`, {cause: error})
  }

  const exported = module.default ?? module.routes
  const before = router.routes().length
  if (typeof exported === 'function') {
    await (exported as (router: Router) => unknown)(router)
  } else if (exported && typeof exported === 'object') {
    for (const [key, handler] of Object.entries(exported)) {
      const match = /^\s*([A-Za-z]+)\s+(\/\S*)\s*$/.exec(key)
      if (!match) throw new RestwireError('RW_ERR_CONFIG', `${path}: route key "${key}" must look like "GET /path"`)
      const verb = options.canonicalVerb(match[1]!)
      if (!verb) throw new RestwireError('RW_ERR_CONFIG', `${path}: route "${key}" uses an unknown verb "${match[1]}"`)
      if (typeof handler !== 'function') throw new RestwireError('RW_ERR_CONFIG', `${path}: route "${key}" is not a function`)
      router.route(verb, match[2]!, handler as Handler)
    }
  } else {
    throw new RestwireError('RW_ERR_CONFIG', `${path} exports no routes`, {
      hint: 'Export default an object like {"GET /hello": () => ({msg: "hi"})}, or a function that takes the router.',
    })
  }

  const added = router.routes().length - before
  if (added === 0) throw new RestwireError('RW_ERR_CONFIG', `${path} defines no routes`)
  return added
}

async function importTypeScript(path: string): Promise<Record<string, unknown>> {
  const {tsImport} = await import('tsx/esm/api')
  return (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>
}
