// `korv call`'s cold fast path (dist/korv-call-cold.cjs, src/korv-call-cold-entry.ts): a plain call to a
// target without a persisted connection, handed over by the persisted fast path with its TCP connection
// started. Against a real korv server: the same output, stderr and exit code as the full command for
// answers, a timeout, and every way the connection can fail (refused, unknown and changed host key,
// rejected key, unreadable key, a key others can read), and the same known_hosts afterwards.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {chmod, copyFile, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type ServeProcess, requireBundleCode, restwire, root, startServe} from '../helpers/cli.js'
import {writeCallTestRoutes} from '../helpers/korv-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'

/** One way of running the call in a child: the fast paths as bin/run.js chains them (saying whether they took it), or the full command alone. */
function run(path: 'cold' | 'full', argv: string[], env: Record<string, string>): Promise<{code: number; stdout: string; stderr: string; taken?: boolean}> {
  const dist = join(root, 'dist')
  const bundles = `globalThis[Symbol.for('restwire.requireBundle')] = () => ${requireBundleCode('ssh2-client.cjs')};\n`
  const script =
    path === 'cold'
      ? `${bundles}${requireBundleCode('korv-call-persisted.cjs')}.runPersistedKorvCall(process.argv.slice(1), process.env, (call) => ${requireBundleCode('korv-call-cold.cjs')}.runColdKorvCall(call)).then((taken) => process.stderr.write('\\ntaken=' + taken))`
      : `${bundles}require(${JSON.stringify(join(dist, 'korv-call.cjs'))}).runKorvCallCommand(process.argv.slice(1))`
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', script, '--', ...argv], {cwd: root, env: {...process.env, NO_COLOR: '1', OCLIF_DISABLE_ENGINE_WARNING: '1', ...env}, timeout: 60_000}, (error, stdout, stderr) => {
      const code = error ? Number((error as {code?: number}).code ?? 1) : 0
      const marker = /\ntaken=(true|false)$/.exec(stderr)
      resolve({code, stderr: marker ? stderr.slice(0, marker.index) : stderr, stdout, taken: marker ? marker[1] === 'true' : undefined})
    })
  })
}

const timeless = (text: string): string => text.replaceAll(/"(totalMs|connectMs|responseMs)":[\d.]+/g, '"$1":0')

describe('korv call: the cold fast path', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let home: string
  let serve: ServeProcess
  let to: string

  before(async () => {
    home = join(dir(), 'home')
    env = {RESTWIRE_HOME: home}
    const routes = await writeCallTestRoutes(dir())
    serve = await startServe(['--routes', routes], env)
    to = `127.0.0.1:${serve.port}`
    // Trusts the host key (zero configuration), as a first call does.
    const first = await restwire(['korv', 'call', 'GET', '/hello', '--to', to], env)
    assert.equal(first.code, 0, first.stderr)
  })
  after(async () => {
    await serve?.stop('SIGKILL')
  })

  /** Both paths, in this order, the same outcome; returns it. */
  const same = async (argv: string[], runEnv = env): Promise<{code: number; stdout: string; stderr: string}> => {
    const cold = await run('cold', argv, runEnv)
    const full = await run('full', argv, runEnv)
    assert.equal(cold.taken, true, cold.stderr)
    assert.equal(cold.code, full.code, `${cold.stderr}\n---\n${full.stderr}`)
    assert.equal(timeless(cold.stdout), timeless(full.stdout))
    assert.equal(cold.stderr, full.stderr)
    return full
  }

  for (const args of [
    ['GET', '/hello'],
    ['GET', '/nope'],
    ['GET', '/hello', '--json'],
    ['STORE', '/echo', '--data', '{"a":[1,2]}', '--json'],
    ['STORE', '/echo', '--data', JSON.stringify({big: 'x'.repeat(6000)})],
    // Over a pipe's buffer (64 KiB): the answer goes to the descriptor in several writes (cli/output.ts).
    ['STORE', '/echo', '--data', JSON.stringify({big: 'y'.repeat(100_000)})],
    ['DELETE', '/nope', '--json'],
    ['GET', '/slow', '--timeout', '300ms'],
    ['GET', '/slow', '--timeout', '300ms', '--json'],
    ['GET', '/hello', '--insecure'],
  ]) {
    it(`prints what the full command prints for korv call ${args.join(' ')}`, async () => {
      const result = await same([...args, '--to', to])
      const bin = await restwire(['korv', 'call', ...args, '--to', to], env)
      assert.equal(bin.code, result.code)
      assert.equal(timeless(bin.stdout), timeless(result.stdout))
    })
  }

  it('fails a refused connection as the full command does', async () => {
    const result = await same(['GET', '/hello', '--to', '127.0.0.1:1', '--json'])
    assert.equal(result.code, 3)
    assert.match(result.stdout, /RW_ERR_CONNECT/)
  })

  it('refuses an unknown host key, and one that changed, as the full command does', async () => {
    const empty = join(dir(), 'empty_known_hosts')
    await writeFile(empty, '')
    const unknown = await same(['GET', '/hello', '--to', to, '--known-hosts', empty])
    assert.equal(unknown.code, 5)
    assert.equal(await readFile(empty, 'utf8'), '', 'nothing trusted')
    const changed = join(dir(), 'changed_known_hosts')
    const line = (await readFile(join(home, 'known_hosts'), 'utf8')).split('\n').find((entry) => entry.includes(String(serve.port)))!
    const [hosts, type] = line.split(' ')
    // Another ed25519 key (the client's own public key) recorded for this server.
    const otherKey = (await readFile(join(home, 'id_ed25519.pub'), 'utf8')).split(' ')[1]
    await writeFile(changed, `${hosts} ${type} ${otherKey}\n`)
    const result = await same(['GET', '/hello', '--to', to, '--known-hosts', changed, '--json'])
    assert.equal(result.code, 6)
  })

  it('records a new host key with --accept-new as the full command does', async () => {
    const cold = join(dir(), 'cold_known_hosts')
    const full = join(dir(), 'full_known_hosts')
    const coldRun = await run('cold', ['GET', '/hello', '--to', to, '--known-hosts', cold, '--accept-new'], env)
    const fullRun = await run('full', ['GET', '/hello', '--to', to, '--known-hosts', full, '--accept-new'], env)
    assert.equal(coldRun.taken, true)
    assert.equal(coldRun.code, 0, coldRun.stderr)
    assert.equal(fullRun.code, 0, fullRun.stderr)
    assert.equal(await readFile(cold, 'utf8'), await readFile(full, 'utf8'))
  })

  it('fails a key the server rejects, a missing key and a key others can read as the full command does', async () => {
    // A key the server does not know: generated in another home.
    const other = await restwire(['keys', 'gen', '-f', join(dir(), 'other_key')], env)
    assert.equal(other.code, 0, other.stderr)
    const rejected = await same(['GET', '/hello', '--to', to, '-i', join(dir(), 'other_key'), '--known-hosts', join(home, 'known_hosts')])
    assert.equal(rejected.code, 4)
    const missing = await same(['GET', '/hello', '--to', to, '-i', join(dir(), 'no_such_key'), '--json'])
    assert.equal(missing.code, 10)
    const open = join(dir(), 'open_key')
    await copyFile(join(home, 'id_ed25519'), open)
    await chmod(open, 0o644)
    const readable = await same(['GET', '/hello', '--to', to, '-i', open, '--known-hosts', join(home, 'known_hosts')])
    assert.equal(readable.code, 10)
    assert.match(readable.stderr, /0644|permissions|readable/i)
  })

  it('takes no call it should leave to the full command', async () => {
    for (const args of [
      ['GET', '/hello', '-v'],
      ['GET', '/hello', '--persist', '5m'],
      ['GET', '/hello', '--data', `@${join(dir(), 'missing.json')}`],
    ]) {
      const cold = await run('cold', [...args, '--to', to], env)
      assert.equal(cold.taken, false, args.join(' '))
      assert.equal(cold.stdout, '')
      assert.equal(cold.stderr, '')
    }
  })
})
