// The tunnel bench runs the compiled library in dist/ (what the CLI bundle and library users run), on
// every side (the gateway + HTTP API child, the node children, the library gateway in the bench process),
// as the korv and pipe benches do (korv-dist.ts, pipe-dist.ts): the TypeScript sources through tsx carry
// its keep-names wrappers and down-levelled class fields, which cost small-message throughput.
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

export type TunnelModule = typeof import('../src/core/tunnel/index.js')

export const ROOT = join(import.meta.dirname, '..')

/** The tunnel library of ROOT (a checkout with dist/ built; default: this one). */
export async function loadTunnel(root = ROOT): Promise<TunnelModule> {
  const url = pathToFileURL(join(root, 'dist', 'core', 'tunnel', 'index.js')).href
  try {
    return (await import(url)) as TunnelModule
  } catch (error) {
    throw new Error(`cannot load ${url}: run \`npm run build\` before the tunnel bench (${(error as Error).message})`)
  }
}
