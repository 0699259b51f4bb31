#!/usr/bin/env node
// dist/cli.cjs is the bundled CLI (npm run build), loaded through a V8 code cache; it re-exports oclif's
// execute. Code run from that cache cannot use import() on Node 20: it gets this one (src/core/dynamic-import.ts).
// oclif's own Node version check costs a semver parse on every start; package.json engines covers it.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
globalThis[Symbol.for('restwire.import')] = (specifier) => import(specifier)
const {requireWithCodeCache} = await import('../dist/code-cache.js')
// One code cache per command (`restwire korv call ...` → korv:call), for known commands only.
const words = process.argv.slice(2, 4)
const variant = words.length === 2 && words.every((word) => /^[a-z]{1,16}$/.test(word)) ? words.join(':') : undefined
const {execute} = requireWithCodeCache(new URL('../dist/cli.cjs', import.meta.url), {
  accepts: (exports, id) => Object.hasOwn(exports.COMMANDS, id),
  variant,
})

await execute({dir: import.meta.url})
