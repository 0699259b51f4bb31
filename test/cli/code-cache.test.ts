// src/code-cache.ts reads a pure-ASCII bundle as latin1 (a copy, no UTF-8 decoding) and anything else as
// UTF-8: both must give the module the same text the file holds, with and without its code cache. It
// compiles a bundle already written inside Node's module wrapper as it is, and reads every file into one
// buffer kept between reads.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {Module} from 'node:module'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {root} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'

/** Loads the files in turn through dist/code-cache.cjs in a process of its own and prints their `text` exports, one per line. */
function load(...files: string[]): string {
  const script = `const {requireWithCodeCache} = require(${JSON.stringify(join(root, 'dist', 'code-cache.cjs'))})
process.stdout.write(${JSON.stringify(files)}.map((file) => requireWithCodeCache(file).text).join('\\n'))`
  const child = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8', timeout: 20_000})
  assert.equal(child.status, 0, child.stderr)
  return child.stdout
}

const caches = (dir: string): string[] => readdirSync(dir).filter((entry) => entry.endsWith('.v8cache'))

describe('requireWithCodeCache', () => {
  const suiteDir = useTempDir('rw-code-cache-')
  /** A directory of this test's own: the caches written beside its bundles are counted. */
  const freshDir = (name: string): string => {
    const dir = join(suiteDir(), name)
    mkdirSync(dir)
    return dir
  }

  for (const [name, text] of [
    ['pure ASCII', 'plain text\\u00e9 and "quotes"'],
    ['UTF-8 beyond ASCII', 'd\u00e9j\u00e0 vu, \u2603, \u{1f600}'],
  ]) {
    it(`gives a ${name} module its own text, before and after its code cache is written`, () => {
      const dir = freshDir(name.replaceAll(/\W/g, '-'))
      const file = join(dir, 'bundle.cjs')
      writeFileSync(file, `module.exports = {text: ${JSON.stringify(text)}}\n`)
      assert.equal(load(file), text)
      assert.ok(caches(dir).length > 0, 'no code cache written')
      assert.equal(load(file), text)
    })
  }

  it("compiles a bundle written inside Node's module wrapper as it is: the same module, the same lines", () => {
    const dir = freshDir('wrapped')
    const body = "const where = new Error('here').stack.split('\\n')[1]\nmodule.exports = {text: where.slice(where.lastIndexOf(':', where.lastIndexOf(':') - 1))}\n"
    const plain = join(dir, 'plain.cjs')
    const wrapped = join(dir, 'wrapped.cjs')
    writeFileSync(plain, body)
    writeFileSync(wrapped, Module.wrap(body))
    const expected = load(plain)
    assert.match(expected, /^:1:\d+\)?$/)
    assert.equal(load(wrapped), expected)
    assert.equal(caches(dir).length, 2)
    assert.equal(load(wrapped), expected)
  })

  it('gives each of several bundles its own text, read in turn through one buffer that grows, with and without their caches', () => {
    const dir = freshDir('several')
    // Larger than the buffer's first 1 MiB, then smaller again: a longer file's bytes must not show through.
    const bundles = [['small', 1000], ['large', 1_500_000], ['smaller', 10], ['medium', 200_000]] as const
    const files = bundles.map(([name, repeat]) => {
      const file = join(dir, `${name}.cjs`)
      writeFileSync(file, Module.wrap(`module.exports = {text: ${JSON.stringify(name.repeat(repeat))}.length + ':${name}'}`))
      return file
    })
    const expected = bundles.map(([name, repeat]) => `${name.length * repeat}:${name}`).join('\n')
    assert.equal(load(...files), expected)
    assert.equal(caches(dir).length, 4)
    assert.equal(load(...files), expected)
  })
})
