// Loads the bundled CLI (dist/cli.cjs, one CommonJS file) through a V8 code cache kept beside it, so
// that a cold start does not parse and compile oclif and restwire again. Node 20 has no built-in
// compile cache (module.enableCompileCache arrived in Node 22). The cache is written at exit when
// missing or rejected (another Node version, a rebuilt bundle); failing to write it costs nothing.
import {readFileSync, realpathSync, renameSync, writeFileSync} from 'node:fs'
import Module, {createRequire} from 'node:module'
import {dirname} from 'node:path'
import {fileURLToPath} from 'node:url'
import vm from 'node:vm'

export function requireWithCodeCache(url: URL): Record<string, unknown> {
  const file = realpathSync(fileURLToPath(url))
  const cacheFile = `${file}.${process.version}.v8cache`
  const source = readFileSync(file, 'utf8')
  let cachedData: Buffer | undefined
  try {
    cachedData = readFileSync(cacheFile)
  } catch {
    cachedData = undefined
  }

  const script = new vm.Script(Module.wrap(source), {cachedData, filename: file})
  const module = new Module(file)
  module.filename = file
  // Registered like any required module, so that oclif's require() of the same file gets this one.
  ;(Module as unknown as {_cache: Record<string, Module>})._cache[file] = module
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file))
  module.loaded = true
  if (cachedData === undefined || script.cachedDataRejected) process.once('exit', () => writeCache(script, cacheFile))
  return module.exports as Record<string, unknown>
}

function writeCache(script: vm.Script, cacheFile: string): void {
  const temporary = `${cacheFile}.${process.pid}`
  try {
    writeFileSync(temporary, script.createCachedData())
    renameSync(temporary, cacheFile)
  } catch {
    // A read-only installation simply runs without the cache.
  }
}
