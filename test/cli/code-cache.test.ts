// src/code-cache.ts reads a pure-ASCII bundle as latin1 (a copy, no UTF-8 decoding) and anything else as
// UTF-8: both must give the module the same text the file holds, with and without its code cache.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {root} from '../helpers/cli.js'

/** Loads `file` through dist/code-cache.cjs in a process of its own and prints its `text` export. */
function load(file: string): string {
  const script = `const {requireWithCodeCache} = require(${JSON.stringify(join(root, 'dist', 'code-cache.cjs'))})
process.stdout.write(requireWithCodeCache(${JSON.stringify(file)}).text)`
  const child = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8', timeout: 20_000})
  assert.equal(child.status, 0, child.stderr)
  return child.stdout
}

describe('requireWithCodeCache', () => {
  for (const [name, text] of [
    ['pure ASCII', 'plain text\\u00e9 and "quotes"'],
    ['UTF-8 beyond ASCII', 'd\u00e9j\u00e0 vu, \u2603, \u{1f600}'],
  ]) {
    it(`gives a ${name} module its own text, before and after its code cache is written`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'rw-code-cache-'))
      try {
        const file = join(dir, 'bundle.cjs')
        writeFileSync(file, `module.exports = {text: ${JSON.stringify(text)}}\n`)
        assert.equal(load(file), text)
        assert.ok(readdirSync(dir).some((entry) => entry.endsWith('.v8cache')), 'no code cache written')
        assert.equal(load(file), text)
      } finally {
        rmSync(dir, {force: true, recursive: true})
      }
    })
  }
})
