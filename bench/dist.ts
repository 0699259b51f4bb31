// The benches run the compiled library in dist/ (what the CLI bundle and library users run), on every
// side, not the TypeScript sources through tsx: tsx's keep-names wrappers and down-levelled class fields
// cost small-message throughput (about a third of the pipe's small events).
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

export type KorvModule = typeof import('../src/core/korv/index.js')
export type TunnelModule = typeof import('../src/core/tunnel/index.js')
type PipeModule = typeof import('../src/core/pipe/index.js')
type NdjsonModule = typeof import('../src/core/framing/ndjson.js')

export const ROOT = join(import.meta.dirname, '..')

/** A module of ROOT's dist/ (`root`: another checkout with dist/ built, for an A/B). */
export async function importDist<T>(path: string, root = ROOT): Promise<T> {
  const url = pathToFileURL(join(root, 'dist', path)).href
  try {
    return (await import(url)) as T
  } catch (error) {
    throw new Error(`cannot load ${url}: run \`npm run build\` before the bench (${(error as Error).message})`)
  }
}

export const loadKorv = (root = ROOT): Promise<KorvModule> => importDist<KorvModule>('core/korv/index.js', root)
export const loadTunnel = (root = ROOT): Promise<TunnelModule> => importDist<TunnelModule>('core/tunnel/index.js', root)
export const loadPipe = (): Promise<PipeModule> => importDist<PipeModule>('core/pipe/index.js')
/** The raw TLS baseline's NDJSON decoder comes from dist/ too, so both sides of the pipe bench are compiled. */
export const loadNdjson = (): Promise<NdjsonModule> => importDist<NdjsonModule>('core/framing/ndjson.js')
