// Bundles the CLI entry (src/index.ts) and what it imports into one CommonJS file, dist/cli.cjs, which
// bin/run.js loads through a V8 code cache (src/code-cache.ts): on Node 20 most of a cold start is
// resolving, reading and compiling hundreds of modules. Dynamic import() becomes require(), because
// code loaded from a V8 cache by vm.Script cannot use import() on Node 20.
import {readFile, writeFile} from 'node:fs/promises'
import {build} from 'esbuild'

// ssh2 loads its optional native crypto binding relative to its own file; inside the bundle, resolve it
// from the ssh2 package instead (absent when ssh2's install script did not build it: ssh2 then runs its
// ciphers on node:crypto, more slowly; docs/architecture.md, "The published package").
const ssh2NativeBinding = {
  name: 'ssh2-native-binding',
  setup(build) {
    build.onLoad({filter: /ssh2[\\/]lib[\\/]protocol[\\/]crypto\.js$/}, async ({path}) => ({
      contents: (await readFile(path, 'utf8')).replace(
        "require('./crypto/build/Release/sshcrypto.node')",
        "require(require.resolve('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node'))",
      ),
      loader: 'js',
    }))
  },
}

const result = await build({
  banner: {js: "const __rwImportMetaUrl = require('node:url').pathToFileURL(__filename).href;"},
  bundle: true,
  define: {'import.meta.url': '__rwImportMetaUrl'},
  entryPoints: ['src/index.ts'],
  // Outside the bundle: optional native add-ons, TypeScript loaders (they locate their own files) and
  // undici (loaded only by --upstream and the relay), yaml (only for a YAML relay config), @peculiar/x509
  // and its Reflect polyfill (loaded only by keys ca / keys cert), the NATS client (only for pipe serve
  // --cluster), prom-client (only when metrics are scraped).
  external: ['cpu-features', 'typescript', 'tsx', 'undici', 'yaml', 'prom-client', '@peculiar/x509', 'reflect-metadata', '@nats-io/*', '*.node'],
  format: 'cjs',
  legalComments: 'none',
  logLevel: 'warning',
  outfile: 'dist/cli.cjs',
  plugins: [ssh2NativeBinding],
  platform: 'node',
  supported: {'dynamic-import': false},
  target: 'node20',
  write: false,
})

// A pure-ASCII file is read several times faster than one that needs UTF-8 decoding, and esbuild leaves
// a few raw characters in regular expressions: escape them (\uXXXX means the same in every JS context).
for (const file of result.outputFiles) {
  await writeFile(file.path, file.text.replace(/[^\0-\x7f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`))
}
