#!/usr/bin/env node
// CommonJS (bin/package.json): an ES module entry costs Node's ES module loader, a few ms of every start.
// dist/cli.cjs is the bundled CLI (npm run build), loaded through a V8 code cache; it re-exports oclif's
// execute. Code run from that cache cannot use import() on Node 20: it gets this one (src/core/dynamic-import.ts).
// oclif's own Node version check costs a semver parse on every start; package.json engines covers it.
'use strict'
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
globalThis[Symbol.for('restwire.import')] = (specifier) => import(specifier)
const {join} = require('node:path')
const root = join(__dirname, '..')
const dist = join(root, 'dist')
const {requireWithCodeCache} = require('../dist/code-cache.cjs')

async function main(argv) {
  // `korv call` (not its --help) runs from its own small bundle, without oclif's config load (src/korv-call-entry.ts).
  const options = argv.indexOf('--') === -1 ? argv : argv.slice(0, argv.indexOf('--'))
  if (argv[0] === 'korv' && argv[1] === 'call' && !options.includes('--help')) {
    // process.stdout and process.stderr are made when first read (for a pipe a net.Socket, set
    // non-blocking): watched here, so that the fast paths' output (src/cli/output.ts, writeOutput) goes
    // to a descriptor whose stream nobody made, and the exit below waits only for streams that exist.
    const made = new Set()
    for (const [fd, name] of [[1, 'stdout'], [2, 'stderr']]) {
      const {get} = Object.getOwnPropertyDescriptor(process, name)
      Object.defineProperty(process, name, {
        configurable: true,
        enumerable: true,
        get() {
          made.add(fd)
          return get.call(process)
        },
      })
    }
    globalThis[Symbol.for('restwire.stdio')] = {made: (fd) => made.has(fd)}
    // Two caches for each bundle that connects: one written by a call that connected itself (`connect`;
    // src/cli/korv-call.ts and src/korv-call-cold-entry.ts say so), one by any other (a call through a persisted connection, or
    // one that started a master and so loaded ssh2 for its keys only).
    const connectedItself = () => globalThis[Symbol.for('restwire.connectedItself')] === true
    // ssh2's client and key parser, only when the call connects itself or starts a master (scripts/bundle.mjs);
    // loaded once, though several modules of the call's bundle ask for it.
    const bundles = new Map()
    globalThis[Symbol.for('restwire.requireBundle')] = (name) => {
      if (!bundles.has(name)) bundles.set(name, requireWithCodeCache(join(dist, name), {accepts: connectedItself, variant: 'connect'}))
      return bundles.get(name)
    }
    // A plain call: its own small bundle, no oclif (src/korv-call-persisted-entry.ts). To a target with a
    // live persisted connection it goes through it, without ssh2; to one without, it connects itself
    // (dist/korv-call-cold.cjs, src/korv-call-cold-entry.ts). It sends nothing when it does not apply,
    // and the full command runs.
    let path
    const {runPersistedKorvCall} = requireWithCodeCache(join(dist, 'korv-call-persisted.cjs'), {accepts: () => path === 'persisted', variant: 'call'})
    const taken = await runPersistedKorvCall(argv.slice(2), process.env, (call) => {
      path = 'cold'
      return globalThis[Symbol.for('restwire.requireBundle')]('korv-call-cold.cjs').runColdKorvCall(call)
    })
    if (taken) {
      path ??= 'persisted'
      // Answered and printed: exit now, once stdout and stderr have taken what was written to them (a
      // full pipe takes it later), without waiting for the server's side of a cold call's close or for
      // Node's teardown of the heap. process.exit keeps the exit code and runs the code caches' exit hooks.
      const streams = [...made].map((fd) => (fd === 1 ? process.stdout : process.stderr))
      await Promise.all(streams.map((stream) => stream.writableLength > 0 && new Promise((resolve) => stream.write('', resolve))))
      process.exit()
    }
    const {runKorvCallCommand} = requireWithCodeCache(join(dist, 'korv-call.cjs'), {accepts: connectedItself, variant: 'connect'})
    await runKorvCallCommand(argv.slice(2))
  } else {
    // One code cache per command (`restwire korv serve ...` → korv:serve), for known commands only.
    const words = argv.slice(0, 2)
    const variant = words.length === 2 && words.every((word) => /^[a-z]{1,16}$/.test(word)) ? words.join(':') : undefined
    const {execute} = requireWithCodeCache(join(dist, 'cli.cjs'), {
      accepts: (exports, id) => Object.hasOwn(exports.COMMANDS, id),
      variant,
    })
    // The package root, not this file: oclif looks for package.json upwards from here, and bin/ has its own.
    await execute({dir: root})
  }
}

main(process.argv.slice(2))
