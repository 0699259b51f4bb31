// import() for modules that are not part of restwire's bundle: user route files and ESM-only packages.
// The bundled CLI runs from a V8 code cache (src/code-cache.ts), where Node 20 cannot run import()
// itself, so bin/run.js installs a real one under this symbol; elsewhere the plain import() is used.
const IMPORTER = Symbol.for('restwire.import')

type Importer = (specifier: string) => Promise<Record<string, unknown>>

export function importModule(specifier: string): Promise<Record<string, unknown>> {
  const importer = (globalThis as {[IMPORTER]?: Importer})[IMPORTER]
  return importer ? importer(specifier) : import(specifier)
}
