// Bundles dist/index.js (the CLI entry tsc just wrote) and everything it imports into dist/index.js plus
// lazily loaded chunks: Node 20 spends most of a cold start resolving and loading modules one by one.
import {build} from 'esbuild'

await build({
  // CommonJS dependencies expect require, __filename and __dirname.
  banner: {
    js: [
      "import {createRequire as __rwRequire} from 'node:module'",
      "import {fileURLToPath as __rwPath} from 'node:url'",
      'const require = __rwRequire(import.meta.url)',
      'const __filename = __rwPath(import.meta.url)',
      "const __dirname = __rwPath(new URL('.', import.meta.url))",
    ].join(';'),
  },
  bundle: true,
  entryNames: '[name]',
  entryPoints: {index: 'dist/index.js'},
  // Outside the bundle: ssh2 and optional native add-ons (ssh2 finds its native crypto binding relative
  // to its own files), TypeScript loaders (likewise) and undici (loaded only by --upstream).
  external: ['cpu-features', 'ssh2', 'typescript', 'tsx', 'undici', '*.node'],
  format: 'esm',
  allowOverwrite: true,
  logLevel: 'warning',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'node',
  splitting: true,
  target: 'node20',
})
