// `keys gen --force` over the restwire home's client key keeps `korv call` working against a local
// `korv serve` (the new key is authorized where the old one was), and the authentication error's hint
// names the authorized_keys file and `keys gen --authorize`.
import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type ServeProcess, restwire, startServe} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'

describe('keys gen --force on the zero-config client key', () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let serve: ServeProcess
  const call = () => restwire(['korv', 'call', '--to', String(serve.port), 'GET', '/hello'], env)

  before(async () => {
    env = {NO_COLOR: '1', RESTWIRE_HOME: join(dir(), 'home')}
    serve = await startServe(['--demo'], env)
    assert.equal((await call()).code, 0)
  })
  after(async () => {
    await serve?.stop()
  })

  it('authorizes the new key in the home authorized_keys, as the old one was', async () => {
    const result = await restwire(['keys', 'gen', '--force'], env)
    assert.equal(result.code, 0, result.stderr)
    const authorizedKeys = join(env.RESTWIRE_HOME!, 'authorized_keys')
    assert.ok(result.stdout.includes(`Authorized the new key in ${authorizedKeys}, as it authorized the key it replaces\n`), result.stdout)
    const called = await call()
    assert.equal(called.code, 0, called.stderr)
    assert.equal(called.stdout, '{"msg":"Hello World!"}\n')

    const json = JSON.parse((await restwire(['keys', 'gen', '--force', '--json'], env)).stdout) as {reauthorized?: unknown}
    assert.deepEqual(json.reauthorized, {added: true, file: authorizedKeys})
    assert.equal((await call()).code, 0)
  })

  it('leaves a revoked key revoked, says so, and the authentication hint names the file and --authorize', async () => {
    const authorizedKeys = join(env.RESTWIRE_HOME!, 'authorized_keys')
    await writeFile(authorizedKeys, '')
    const result = await restwire(['keys', 'gen', '--force'], env)
    assert.equal(result.code, 0, result.stderr)
    assert.doesNotMatch(result.stdout, /Authorized the new key/)
    const key = join(env.RESTWIRE_HOME!, 'id_ed25519')
    assert.equal(
      result.stderr,
      `Note: ${authorizedKeys} does not authorize this key, so a korv serve on this machine without --authorized-keys refuses it; add ${key}.pub there to allow it.\n`,
    )

    const refused = await restwire(['korv', 'call', '--to', String(serve.port), 'GET', '/hello', '--json'], env)
    assert.equal(refused.code, 4)
    const {error} = JSON.parse(refused.stdout) as {error: {code: string; hint: string}}
    assert.equal(error.code, 'RW_ERR_AUTH')
    assert.equal(
      error.hint,
      `Add ${key}.pub to the server's authorized_keys (a korv serve on this machine without --authorized-keys reads ${authorizedKeys}), or make a key it trusts: restwire keys gen -f KEY --authorize AUTHORIZED_KEYS, then pass -i KEY.`,
    )
  })
})
