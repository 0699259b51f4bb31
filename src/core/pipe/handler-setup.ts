// What `pipe serve` and `pipe connect` set up to answer events: the handler sources from the flags,
// in lookup order (--handlers, --serve-dir, built-ins, --upstream).
import {type PipeHandlerSource, builtinSource, createPipeHandler} from './handlers.js'
import {loadHandlersModule} from './handlers-module.js'
import {serveDirSource} from './serve-dir.js'
import type {EventHandler} from './session.js'
import {createPipeUpstream} from './upstream.js'

export interface PipeHandlerSetupOptions {
  side: 'hub' | 'node'
  handlersFile?: string
  serveDir?: string
  upstream?: string
  /** The `time` and `cat` examples. Default true. */
  builtins?: boolean
}

export interface PipeHandlerSetup {
  handler: EventHandler
  /** What answers, for the start-up line: e.g. ["handlers.js (3)", "serve-dir /srv", "built-ins"]. */
  sources: string[]
  close(): Promise<void>
}

export async function setUpPipeHandler(options: PipeHandlerSetupOptions): Promise<PipeHandlerSetup> {
  const functions = options.handlersFile ? await loadHandlersModule(options.handlersFile) : undefined
  const sources: PipeHandlerSource[] = []
  const names: string[] = []
  if (functions) names.push(`${options.handlersFile} (${Object.keys(functions).sort().join(', ')})`)
  if (options.serveDir) {
    sources.push(await serveDirSource(options.serveDir))
    names.push(`files under ${options.serveDir} (GET file//PATH)`)
  }

  if (options.builtins ?? true) {
    sources.push(builtinSource(options.side))
    names.push('built-ins (GET time, GET cat//a/b)')
  }

  const upstream = options.upstream ? await createPipeUpstream(options.upstream) : undefined
  if (upstream) {
    sources.push(upstream.source)
    names.push(`upstream ${options.upstream}`)
  }

  return {close: async () => upstream?.close(), handler: createPipeHandler({functions, sources}), sources: names}
}
