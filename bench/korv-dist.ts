// The korv bench cases run the compiled library in dist/ (what the CLI bundle and library users run),
// on both ends, as the pipe bench does (pipe-dist.ts): the TypeScript sources through tsx carry its
// keep-names wrappers and down-levelled class fields, which cost small-message throughput.
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

export type KorvModule = typeof import('../src/core/korv/index.js')

export const ROOT = join(import.meta.dirname, '..')

/** The korv library of ROOT (a checkout with dist/ built; default: this one). */
export async function loadKorv(root = ROOT): Promise<KorvModule> {
  const url = pathToFileURL(join(root, 'dist', 'core', 'korv', 'index.js')).href
  try {
    return (await import(url)) as KorvModule
  } catch (error) {
    throw new Error(`cannot load ${url}: run \`npm run build\` before the korv bench (${(error as Error).message})`)
  }
}
