// Loads the bundled CLI (dist/cli.cjs, one CommonJS file) through a V8 code cache kept beside it, so
// that a cold start does not parse and compile oclif and restwire again. Node 20 has no built-in
// compile cache (module.enableCompileCache arrived in Node 22). The cache is written at the exit of a
// successful run when missing or rejected (another Node version, a rebuilt bundle); failing to write
// it costs nothing.
// A cache holds the functions its first run compiled, so each command gets its own file: a cache made
// by `korv serve` would leave most of `korv call` to be compiled on every run.
// Built-ins come from process.getBuiltinModule, not from `import`: an ES module import of node:fs makes
// Node build its ES module facade, whose export scan loads fs's whole stream machinery (a few ms of
// every start, for nothing this file uses).
import type * as BufferModule from 'node:buffer'
import type * as Fs from 'node:fs'
import type * as ModuleNs from 'node:module'
import type * as Path from 'node:path'
import type * as Url from 'node:url'
import type * as Vm from 'node:vm'

const {closeSync, existsSync, fstatSync, openSync, readSync, realpathSync, renameSync, rmSync, writeFileSync} = process.getBuiltinModule('node:fs') as typeof Fs
const {isAscii} = process.getBuiltinModule('node:buffer') as typeof BufferModule
// In the CommonJS bundle bin/run.js requires (dist/code-cache.cjs), this module's constructor is node:module's
// Module: taken from there, the public node:module (whose ES module loader parts cost 0.6-1.2 ms of every
// start) is not loaded. The ES module build has no `module`.
const Module = (typeof module === 'object' ? module.constructor : process.getBuiltinModule('node:module')) as typeof ModuleNs.Module
const {createRequire} = Module
const {dirname} = process.getBuiltinModule('node:path') as typeof Path
const {fileURLToPath} = process.getBuiltinModule('node:url') as typeof Url
const vm = process.getBuiltinModule('node:vm') as typeof Vm

/** How Node's CommonJS wrapper starts: a bundle that starts so is compiled as it is. */
const WRAPPER_HEAD = `${Module.wrap('').split('{')[0]}{`

export interface CodeCacheOptions {
  /** Names this run's cache file (a command id, e.g. `korv:call`); default one shared file. */
  variant?: string
  /** Whether the loaded module accepts the variant (a known command); otherwise the shared file is used for writing. */
  accepts?: (exports: Record<string, unknown>, variant: string) => boolean
}

/** Requires `file` (a path or file: URL), a CommonJS bundle, through its code cache. */
export function requireWithCodeCache(url: URL | string, options: CodeCacheOptions = {}): Record<string, unknown> {
  const file = realpathSync(typeof url === 'string' ? url : fileURLToPath(url))
  const cacheFileFor = (variant?: string): string => `${file}.${process.version}${variant ? '.' + variant.replaceAll(':', '-') : ''}.v8cache`
  const sharedFile = cacheFileFor()
  const variantFile = options.variant ? cacheFileFor(options.variant) : undefined
  // The bundles are pure ASCII (scripts/bundle.mjs escapes the rest), and ASCII reads the same as latin1,
  // which copies the bytes instead of decoding UTF-8: about 1 ms less for ssh2's 0.7 MB bundle.
  const bytes = readWhole(file)
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8')
  // The command's own cache, else the shared one (better than none), else nothing.
  let readFrom: string | undefined
  let cachedData: Buffer | undefined
  for (const candidate of variantFile ? [variantFile, sharedFile] : [sharedFile]) {
    cachedData = readIfExists(candidate)
    if (cachedData) {
      readFrom = candidate
      break
    }
  }

  // scripts/bundle.mjs writes each bundle already inside Node's module wrapper: wrapping it here would
  // make V8 flatten a copy of the whole text (a fresh page per 4 KiB, each a costly fault on this VM).
  const script = new vm.Script(source.startsWith(WRAPPER_HEAD) ? source : Module.wrap(source), {cachedData, filename: file})
  const module = new Module(file)
  module.filename = file
  // Registered like any required module, so that oclif's require() of the same file gets this one.
  ;(Module as unknown as {_cache: Record<string, ModuleNs.Module>})._cache[file] = module
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file))
  module.loaded = true
  const exports = module.exports as Record<string, unknown>
  // Only a run that succeeded, and was not --help, compiled the command's usual path: a cache made by
  // a failing first run (a refused connection, a usage error) would leave that path uncompiled for good.
  const usual = !process.argv.some((arg) => arg === '--help' || arg === '-h')
  process.once('exit', (code) => {
    if (code !== 0 || !usual) return
    // Decided at exit: a bundle may learn during the run which path it took (korv call: a connection of
    // its own, or a persisted one). Never a file named after something that is not a command (a typo).
    const target = variantFile && options.accepts?.(exports, options.variant!) ? variantFile : sharedFile
    if (target === readFrom ? script.cachedDataRejected : !existsSync(target)) writeCache(script, target)
    // A rejected cache this run does not replace (another path's) would be read first again: drop it.
    if (script.cachedDataRejected && readFrom && readFrom !== target) rmSync(readFrom, {force: true})
  })
  return exports
}

/**
 * One buffer for every file read here, kept between reads: a bundle's bytes are needed only until they
 * are text, a cache's only until V8 has read it, and every 4 KiB of fresh memory costs a page fault when
 * first touched (about 11 us on this VM; a cold `korv call` reads six files, 1.1 MB). At least 1 MiB
 * of address space, of which only what the largest file fills is ever touched. Held through a WeakRef:
 * a long-running command gives it back at its first full GC.
 */
let scratch: WeakRef<Buffer> | undefined
const SCRATCH_BYTES = 1024 * 1024

/** The whole file, in the shared buffer: valid until the next read. */
function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r')
  try {
    const size = fstatSync(fd).size
    let buffer = scratch?.deref()
    if (!buffer || buffer.length < size) {
      buffer = Buffer.allocUnsafeSlow(Math.max(size, SCRATCH_BYTES))
      scratch = new WeakRef(buffer)
    }

    let length = 0
    for (let read = -1; length < size && read !== 0; length += read) read = readSync(fd, buffer, length, size - length, null)
    return buffer.subarray(0, length)
  } finally {
    closeSync(fd)
  }
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readWhole(path)
  } catch {
    return undefined
  }
}

function writeCache(script: Vm.Script, cacheFile: string): void {
  const temporary = `${cacheFile}.${process.pid}`
  try {
    writeFileSync(temporary, script.createCachedData())
    renameSync(temporary, cacheFile)
  } catch {
    // A read-only installation simply runs without the cache.
  }
}
