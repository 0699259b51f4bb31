// `korv call`'s persisted fast path (dist/korv-call-persisted.cjs, src/korv-call-persisted-entry.ts):
// its argument parse against oclif's, argument by argument; and, against a real korv server and a real
// master, the same output and exit code as the full command for what it takes, nothing sent or printed
// for what it does not.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync, readdirSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {parseSimpleKorvCall} from '../../src/cli/korv-call-argv.js'
import KorvCall from '../../src/commands/korv/call.js'
import {commandConfig} from '../../src/korv-call-entry.js'
import {type ServeProcess, requireBundleCode, restwire, root, startServe} from '../helpers/cli.js'
import {writeCallTestRoutes} from '../helpers/korv-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'

const PKG = {bin: 'restwire', name: 'restwire', version: '0.0.0'}

/** oclif's parse of `korv call ARGV` (init(): flags, args, the target merge), as runKorvCall's options and --color. */
async function oclifParse(argv: string[]): Promise<Record<string, unknown>> {
  KorvCall.id = 'korv:call'
  const command = new KorvCall(argv, commandConfig(PKG)) as unknown as {init(): Promise<void>; callOptions(): Record<string, unknown>; flags: {color: string}}
  await command.init()
  return {...command.callOptions(), color: command.flags.color}
}

/** One way of running the call in a child: the fast path alone (saying whether it took the call), or the full command alone. */
function run(path: 'fast' | 'full', argv: string[], env: Record<string, string>): Promise<{code: number; stdout: string; stderr: string; taken?: boolean}> {
  const dist = join(root, 'dist')
  const script =
    path === 'fast'
      ? `${requireBundleCode('korv-call-persisted.cjs')}.runPersistedKorvCall(process.argv.slice(1)).then((taken) => process.stderr.write('\\ntaken=' + taken))`
      : `globalThis[Symbol.for('restwire.requireBundle')] = () => ${requireBundleCode('ssh2-client.cjs')};
require(${JSON.stringify(join(dist, 'korv-call.cjs'))}).runKorvCallCommand(process.argv.slice(1))`
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', script, '--', ...argv], {cwd: root, env: {...process.env, NO_COLOR: '1', OCLIF_DISABLE_ENGINE_WARNING: '1', ...env}, timeout: 60_000}, (error, stdout, stderr) => {
      const code = error ? Number((error as {code?: number}).code ?? 1) : 0
      const marker = /\ntaken=(true|false)$/.exec(stderr)
      resolve({code, stderr: marker ? stderr.slice(0, marker.index) : stderr, stdout, taken: marker ? marker[1] === 'true' : undefined})
    })
  })
}

describe('korv call: the persisted fast path', () => {
  const dir = useTempDir()

  describe('reads its arguments as oclif does', () => {
    before(() => {
      process.env.RESTWIRE_HOME = join(dir(), 'parse-home')
    })

    for (const argv of [
      ['GET', '/hello'],
      ['get', '/a/b?x=1', '--to', '8123'],
      ['STORE', '/users', '--data', '{"name":"ada"}', '--json'],
      ['--json', 'UPDATE', '/x', '-d', '[1,2]', '--to=[::1]:9000'],
      ['DELETE', '/x', '-u', 'alice', '--timeout', '500ms', '--connect-timeout=2s', '--concurrency', '3'],
      ['GET', '/x', '-i', 'a.key', '--identity', 'b.key', '-i', 'c.key', '--known-hosts', 'kh'],
      ['GET', '/x', '--insecure', '--color', 'never'],
      ['GET', '/x', '--accept-new', '--color=always', '--persist', '10m'],
      ['GET', '/x', '--data', '@body.json', '--user=bob', '--to', 'example.com'],
      ['POST', '/x', '--timeout', '0', '--to', '127.0.0.1:8022'],
    ]) {
      it(`korv call ${argv.join(' ')}`, async () => {
        const fast = parseSimpleKorvCall(argv)
        assert.ok(fast, 'the fast path takes it')
        assert.deepEqual({...fast}, await oclifParse(argv))
      })
    }

    for (const argv of [
      ['GET'],
      ['GET', '/x', 'extra'],
      ['GET', '/x', '-v'],
      ['GET', '/x', '--verbose'],
      ['GET', '/x', '--batch', 'f'],
      ['--batch', 'f'],
      ['GET', '/x', '--interactive'],
      ['GET', '/x', '--target', 'prod'],
      ['GET', '/x', '--persist', 'stop'],
      ['GET', '/x', '--persist', 'soon'],
      ['GET', '/x', '--to', '1', '--to', '2'],
      ['GET', '/x', '--json', '--json'],
      ['GET', '/x', '--json=true'],
      ['GET', '/x', '-ualice'],
      ['GET', '/x', '-u=alice'],
      ['GET', '/x', '-u', '--json'],
      ['GET', '/x', '--user', ''],
      ['GET', '/x', '--data', '@-'],
      ['GET', '/x', '--data', '{oops'],
      ['GET', '/x', '--timeout', 'xx'],
      ['GET', '/x', '--concurrency', '0'],
      ['GET', '/x', '--color', 'sometimes'],
      ['GET', '/x', '--to', 'nope:port'],
      ['GET', '/x', '--insecure', '--accept-new'],
      ['GET', '/x', '--bogus'],
      ['GET', '/x', '--'],
      ['GET', '/x', '-'],
      ['GET', '/x', '--help'],
      ['GET', '/x', '-h'],
    ]) {
      it(`leaves korv call ${argv.join(' ')} to the full command`, () => {
        assert.equal(parseSimpleKorvCall(argv), undefined)
      })
    }
  })

  describe('against a korv server and a master', () => {
    let env: Record<string, string>
    let serve: ServeProcess
    let to: string
    let stopped = false

    before(async () => {
      env = {RESTWIRE_HOME: join(dir(), 'home')}
      const routes = await writeCallTestRoutes(dir())
      serve = await startServe(['--routes', routes], env)
      to = `127.0.0.1:${serve.port}`
      const started = await restwire(['korv', 'call', 'GET', '/hello', '--to', to, '--persist', '5m'], env)
      assert.equal(started.code, 0, started.stderr)
    })
    after(async () => {
      if (!stopped) await restwire(['korv', 'call', '--to', to, '--persist', 'stop'], env)
      await serve?.stop('SIGKILL')
    })

    const timeless = (text: string): string => text.replaceAll(/"(totalMs|connectMs|responseMs)":[\d.]+/g, '"$1":0')
    for (const args of [
      ['GET', '/hello'],
      ['GET', '/nope'],
      ['STORE', '/echo', '--data', '{"a":[1,2]}', '--json'],
      // Over 4 KiB: the bundle's CRC-32 hands it to zlib (smaller ones it computes itself).
      ['STORE', '/echo', '--data', JSON.stringify({big: 'x'.repeat(6000)})],
      // Over a pipe's buffer (64 KiB): the answer goes to the descriptor in several writes (cli/output.ts).
      ['STORE', '/echo', '--data', JSON.stringify({big: 'y'.repeat(100_000)})],
      ['DELETE', '/nope', '--json'],
      ['GET', '/slow', '--timeout', '300ms'],
      ['GET', '/slow', '--timeout', '300ms', '--json'],
    ]) {
      it(`prints what the full command prints for korv call ${args.join(' ')}`, async () => {
        const argv = [...args, '--to', to]
        const fast = await run('fast', argv, env)
        const full = await run('full', argv, env)
        assert.equal(fast.taken, true, fast.stderr)
        assert.equal(fast.code, full.code)
        assert.equal(timeless(fast.stdout), timeless(full.stdout))
        assert.equal(fast.stderr, full.stderr)
        const bin = await restwire(['korv', 'call', ...argv], env)
        assert.equal(bin.code, full.code)
        assert.equal(timeless(bin.stdout), timeless(full.stdout))
      })
    }

    it('sends nothing when the target has no master, or the body cannot be read', async () => {
      for (const args of [
        ['GET', '/hello', '--user', 'someone-else'],
        ['STORE', '/echo', '--data', `@${join(dir(), 'missing.json')}`],
      ]) {
        const fast = await run('fast', [...args, '--to', to], env)
        assert.equal(fast.taken, false)
        assert.equal(fast.code, 0)
        assert.equal(fast.stdout, '')
        assert.equal(fast.stderr, '')
      }

      // The full command then says what is wrong with the body.
      const missing = await restwire(['korv', 'call', 'STORE', '/echo', '--data', `@${join(dir(), 'missing.json')}`, '--to', to], env)
      assert.equal(missing.code, 2)
      assert.match(missing.stderr, /cannot read the request body/)
    })

    it('leaves a call with a named target in play to the full command', async () => {
      const withEnv = await run('fast', ['GET', '/hello', '--to', to], {...env, RESTWIRE_TARGET: 'prod'})
      assert.equal(withEnv.taken, false)
      await writeFile(join(env.RESTWIRE_HOME!, 'config.yaml'), 'targets: {}\n')
      try {
        const withFile = await run('fast', ['GET', '/hello', '--to', to], env)
        assert.equal(withFile.taken, false)
        assert.equal(withFile.stdout, '')
      } finally {
        await writeFile(join(env.RESTWIRE_HOME!, 'config.yaml'), '')
        const {rm} = await import('node:fs/promises')
        await rm(join(env.RESTWIRE_HOME!, 'config.yaml'))
      }
    })

    it('falls back to a connection of its own once the master is gone', async () => {
      const stop = await restwire(['korv', 'call', '--to', to, '--persist', 'stop'], env)
      assert.equal(stop.code, 0, stop.stderr)
      stopped = true
      const persistDir = join(env.RESTWIRE_HOME!, 'persist')
      for (let n = 0; n < 50 && existsSync(persistDir) && readdirSync(persistDir).length > 0; n++) await new Promise((resolve) => setTimeout(resolve, 100))
      const fast = await run('fast', ['GET', '/hello', '--to', to], env)
      assert.equal(fast.taken, false)
      const bin = await restwire(['korv', 'call', 'GET', '/hello', '--to', to], env)
      assert.equal(bin.code, 0, bin.stderr)
      assert.equal(bin.stdout, '{"msg":"hi"}\n')
    })
  })
})
