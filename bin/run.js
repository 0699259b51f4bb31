#!/usr/bin/env node
// dist/cli.cjs is the bundled CLI (npm run build), loaded through a V8 code cache; it re-exports oclif's
// execute. Code run from that cache cannot use import() on Node 20: it gets this one (src/core/dynamic-import.ts).
// oclif's own Node version check costs a semver parse on every start; package.json engines covers it.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
globalThis[Symbol.for('restwire.import')] = (specifier) => import(specifier)
const {requireWithCodeCache} = await import('../dist/code-cache.js')
const argv = process.argv.slice(2)
// `korv call` (not its --help) runs from its own small bundle, without oclif's config load (src/korv-call-entry.ts).
const options = argv.indexOf('--') === -1 ? argv : argv.slice(0, argv.indexOf('--'))
if (argv[0] === 'korv' && argv[1] === 'call' && !options.includes('--help')) {
  // ssh2's client, only when the call connects itself (scripts/bundle.mjs).
  const requireBundle = (name) => {
    requireBundle.loaded = true
    return requireWithCodeCache(new URL(`../dist/${name}`, import.meta.url))
  }
  globalThis[Symbol.for('restwire.requireBundle')] = requireBundle
  // Two caches: a call that connected itself (`connect`) and one through a persisted connection.
  const {runKorvCallCommand} = requireWithCodeCache(new URL('../dist/korv-call.cjs', import.meta.url), {
    accepts: () => requireBundle.loaded === true,
    variant: 'connect',
  })
  await runKorvCallCommand(argv.slice(2))
} else {
  // One code cache per command (`restwire korv serve ...` → korv:serve), for known commands only.
  const words = argv.slice(0, 2)
  const variant = words.length === 2 && words.every((word) => /^[a-z]{1,16}$/.test(word)) ? words.join(':') : undefined
  const {execute} = requireWithCodeCache(new URL('../dist/cli.cjs', import.meta.url), {
    accepts: (exports, id) => Object.hasOwn(exports.COMMANDS, id),
    variant,
  })
  await execute({dir: import.meta.url})
}
