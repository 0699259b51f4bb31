// `korv call`'s fast entry (dist/korv-call.cjs, src/korv-call-entry.ts) against oclif's full start-up
// (dist/cli.cjs through execute()): the same output and exit code for usage errors, --json errors and
// a refused connection, and the assumption the fast entry rests on: no oclif hooks it would skip.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {restwire, root} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'

/** The full oclif path, as bin/run.js takes it for every other command. */
const FULL_PATH = `
globalThis[Symbol.for('restwire.import')] = (specifier) => import(specifier)
const {requireWithCodeCache} = await import(${JSON.stringify(join(root, 'dist', 'code-cache.js'))})
const {execute} = requireWithCodeCache(new URL(${JSON.stringify(`file://${join(root, 'dist', 'cli.cjs')}`)}))
await execute({args: process.argv.slice(1), dir: ${JSON.stringify(root)}})
`

function fullPath(args: string[], env: Record<string, string>): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', FULL_PATH, '--', ...args], {cwd: root, env: {...process.env, OCLIF_DISABLE_ENGINE_WARNING: '1', ...env}, timeout: 60_000}, (error, stdout, stderr) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stderr, stdout})
    })
  })
}

describe('korv call: the fast entry and oclif\'s full start-up', () => {
  const dir = useTempDir()

  it('package.json declares no oclif hook the fast entry would skip', () => {
    const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {oclif: {hooks?: Record<string, unknown>}}
    assert.deepEqual(Object.keys(pjson.oclif.hooks ?? {}), ['command_not_found'])
  })

  for (const args of [
    ['GET', '/hello', '--bogus'],
    ['GET', 'hello'],
    ['FETCH', '/x'],
    ['GET', '/hello', '--timeout', 'xx'],
    ['GET', '/hello', '--json', '--bogus'],
    ['GET', '/hello', '--persist', 'soon'],
    ['GET', '/hello', '--target', 'nope'],
    ['GET', '/hello', '--insecure', '--accept-new'],
    ['GET', '/hello', '--to', '127.0.0.1:1', '--json'],
  ]) {
    it(`answers korv call ${args.join(' ')} the same`, async () => {
      const env = {NO_COLOR: '1', RESTWIRE_HOME: join(dir(), 'home')}
      const fast = await restwire(['korv', 'call', ...args], env)
      const full = await fullPath(['korv', 'call', ...args], env)
      const timeless = (text: string): string => text.replaceAll(/"(totalMs|connectMs)":[\d.]+/g, '"$1":0')
      assert.equal(fast.code, full.code)
      assert.ok(fast.code !== 0)
      assert.equal(timeless(fast.stdout), timeless(full.stdout))
      assert.equal(fast.stderr, full.stderr)
    })
  }
})
