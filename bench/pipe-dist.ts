// The pipe bench runs the compiled library in dist/ (what the CLI bundle and library users run), not
// the TypeScript sources through tsx: tsx's keep-names wrapper alone costs about a third of small-event
// throughput. The raw TLS baseline's NDJSON decoder comes from dist/ too, so both sides are compiled.

type PipeModule = typeof import('../src/core/pipe/index.js')
type NdjsonModule = typeof import('../src/core/framing/ndjson.js')

async function importDist<T>(path: string): Promise<T> {
  const url = new URL(`../dist/${path}`, import.meta.url).href
  try {
    return (await import(url)) as T
  } catch (error) {
    throw new Error(`cannot load ${url}: run \`npm run build\` before the pipe bench (${(error as Error).message})`)
  }
}

export const loadPipe = (): Promise<PipeModule> => importDist<PipeModule>('core/pipe/index.js')
export const loadNdjson = (): Promise<NdjsonModule> => importDist<NdjsonModule>('core/framing/ndjson.js')
