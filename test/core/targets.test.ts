// Named targets: the config file's validation (every problem named targets.NAME.FIELD), the lines kept
// for `config show`, the choice of target (flag, env, default_target) and the precedence of a setting.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {TARGET_FLAGS, resolveSettings} from '../../src/cli/targets.js'
import {isRestwireError} from '../../src/core/errors.js'
import {mergeSetting, parseTargetsConfig, selectTarget} from '../../src/core/targets.js'

const env = {HOME: '/home/ada'}
const path = '/etc/rw/config.yaml'

const FULL = `# restwire targets
default_target: prod
targets:
  prod:
    address: api.example.com:2222
    user: deploy
    identity: ~/.ssh/id_ed25519
    known_hosts: keys/known_hosts
    timeout: 5s
    connect_timeout: 2
  v6:
    address: "[::1]:8022"
    identity: [a.key, /abs/b.key]
  gw.1:
    address: gw.example.com
    gateway: http://127.0.0.1:9090/
    relay: unix:/run/relay.sock
`

async function problemsOf(text: string): Promise<string[]> {
  try {
    await parseTargetsConfig(text, path, env)
  } catch (error) {
    assert.ok(isRestwireError(error))
    assert.equal(error.code, 'RW_ERR_CONFIG')
    return (error.details as {problems: string[]}).problems
  }

  assert.fail('the config was accepted')
}

describe('parseTargetsConfig', () => {
  it('reads every field, with its line; paths from HOME or the file directory', async () => {
    const config = await parseTargetsConfig(FULL, path, env)
    assert.deepEqual([...config.targets.keys()], ['prod', 'v6', 'gw.1'])
    assert.deepEqual(config.defaultTarget, {line: 2, name: 'prod'})
    const prod = config.targets.get('prod')!
    assert.deepEqual(prod.settings, {
      connect_timeout: 2000,
      host: 'api.example.com',
      identity: ['/home/ada/.ssh/id_ed25519'],
      known_hosts: '/etc/rw/keys/known_hosts',
      port: 2222,
      timeout: 5000,
      user: 'deploy',
    })
    assert.equal(prod.line, 4)
    assert.deepEqual(prod.lines, {connect_timeout: 10, host: 5, identity: 7, known_hosts: 8, port: 5, timeout: 9, user: 6})
    assert.deepEqual(config.targets.get('v6')!.settings, {host: '::1', identity: ['/etc/rw/a.key', '/abs/b.key'], port: 8022})
    assert.deepEqual(config.targets.get('gw.1')!.settings, {gateway: 'http://127.0.0.1:9090', host: 'gw.example.com', relay: 'unix:/run/relay.sock'})
  })

  it('takes an empty file or an empty targets mapping', async () => {
    assert.equal((await parseTargetsConfig('', path, env)).targets.size, 0)
    assert.equal((await parseTargetsConfig('targets:\n', path, env)).targets.size, 0)
  })

  it('reports every problem at once, named targets.NAME.FIELD; unknown fields are errors', async () => {
    const problems = await problemsOf(`targets:
  a:
    adress: x:1
    address: "host:99999"
    timeout: -1
    connect_timeout: 10 years
    relay: tcp://nohost
    gateway: ftp://x
    identity: []
    user: "two words"
  "-bad":
    user: u
  c: just a string
colour: red
`)
    assert.deepEqual(problems, [
      'targets.a.adress: unknown field (expected one of address, user, identity, known_hosts, gateway, relay, timeout, connect_timeout)',
      'targets.a.address: must be HOST:PORT (or HOST), e.g. api.example.com:8022 or [::1]:8022, got "host:99999"',
      'targets.a.timeout: must be a duration: seconds as a number, or a string like "500ms", "30s", "2m"; got -1',
      'targets.a.connect_timeout: must be a duration: seconds as a number, or a string like "500ms", "30s", "2m"; got "10 years"',
      'targets.a.relay: must be tcp://HOST:PORT or unix:/path/to.sock, got "tcp://nohost"',
      'targets.a.gateway: must be an http:// URL, e.g. http://127.0.0.1:8080, got "ftp://x"',
      'targets.a.identity: must be a key file path or a list of them, got []',
      'targets.a.user: must be a user name, got "two words"',
      'targets.-bad: a target name is letters, digits, ".", "_" and "-", starting with a letter or digit',
      'targets.c: must be a mapping of settings (address, user, identity...)',
      'colour: unknown field (expected one of targets, default_target)',
    ])
  })

  it('refuses invalid YAML with its line, duplicate keys, a non-mapping file and a dangling default_target', async () => {
    await assert.rejects(parseTargetsConfig('targets:\n  a: [\n', path, env), /is not valid YAML: line \d+/)
    assert.match((await problemsOf('targets:\n  a:\n    user: x\n    user: y\n'))[0]!, /line 4: Map keys must be unique/)
    assert.deepEqual(await problemsOf('- a\n- b\n'), ['the file must hold a mapping with a "targets" mapping'])
    assert.deepEqual(await problemsOf('default_target: nope\ntargets:\n  a:\n    user: x\n'), ['default_target: names no target in the file (known: a)'])
  })
})

describe('selectTarget', () => {
  it('takes --target, then RESTWIRE_TARGET, then default_target; none when nothing names one', async () => {
    const config = await parseTargetsConfig(FULL, path, env)
    assert.deepEqual(selectTarget(config, path, 'v6', {RESTWIRE_TARGET: 'gw.1'})?.source, {kind: 'flag'})
    assert.equal(selectTarget(config, path, 'v6', {RESTWIRE_TARGET: 'gw.1'})?.target.name, 'v6')
    const fromEnv = selectTarget(config, path, undefined, {RESTWIRE_TARGET: 'gw.1'})
    assert.deepEqual([fromEnv?.target.name, fromEnv?.source], ['gw.1', {kind: 'env', variable: 'RESTWIRE_TARGET'}])
    const fromFile = selectTarget(config, path, undefined, {RESTWIRE_TARGET: ''})
    assert.deepEqual([fromFile?.target.name, fromFile?.source], ['prod', {kind: 'config', line: 2, path}])
    assert.equal(selectTarget(await parseTargetsConfig('targets:\n', path, env), path, undefined, {}), undefined)
    assert.equal(selectTarget(undefined, path, undefined, {}), undefined)
  })

  it('names the known targets for an unknown one, and the missing file when there is none', async () => {
    const config = await parseTargetsConfig(FULL, path, env)
    assert.throws(() => selectTarget(config, path, 'staging', {}), (error: unknown) => {
      assert.ok(isRestwireError(error))
      assert.equal(error.code, 'RW_ERR_CONFIG')
      assert.match(error.message, /no target "staging" \(--target\) in \/etc\/rw\/config.yaml; known: prod, v6, gw.1/)
      return true
    })
    assert.throws(() => selectTarget(undefined, path, undefined, {RESTWIRE_TARGET: 'prod'}), /no target "prod" \(RESTWIRE_TARGET\): there is no config file/)
  })
})

describe('precedence', () => {
  it('an explicit flag wins over the target, the target over the default', async () => {
    const prod = (await parseTargetsConfig(FULL, path, env)).targets.get('prod')!
    assert.deepEqual(mergeSetting({explicit: true, value: 'other'}, prod, 'user', path), {source: {kind: 'flag'}, value: 'other'})
    assert.deepEqual(mergeSetting({explicit: false, value: 'korv'}, prod, 'user', path), {source: {kind: 'config', line: 6, path}, value: 'deploy'})
    assert.deepEqual(mergeSetting({explicit: false, value: 30_000}, prod, 'gateway', path), {source: {kind: 'default'}, value: 30_000})
    assert.deepEqual(mergeSetting({explicit: false, value: 'korv'}, undefined, 'user', path), {source: {kind: 'default'}, value: 'korv'})
  })

  it("fills a command's flags in place: defaults replaced, typed flags kept, relay addresses parsed", async () => {
    const config = await parseTargetsConfig(FULL, path, env)
    const korv: Record<string, unknown> = {'connect-timeout': 10_000, host: '127.0.0.1', port: 9000, timeout: 30_000, user: 'korv'}
    const applied = resolveSettings({flags: korv, fromDefault: new Set(['connect-timeout', 'host', 'timeout', 'user']), map: TARGET_FLAGS['korv:call']!}, config.targets.get('prod'), path)
    assert.deepEqual(korv, {
      'connect-timeout': 2000,
      host: 'api.example.com',
      identity: ['/home/ada/.ssh/id_ed25519'],
      'known-hosts': '/etc/rw/keys/known_hosts',
      port: 9000,
      timeout: 5000,
      user: 'deploy',
    })
    assert.deepEqual(applied.settings.port, {source: {kind: 'flag'}, value: 9000})
    const relay: Record<string, unknown> = {connect: {host: '127.0.0.1', kind: 'tcp', port: 9876}, timeout: 60_000}
    resolveSettings({flags: relay, fromDefault: new Set(['connect', 'timeout']), map: TARGET_FLAGS['relay:send']!}, config.targets.get('gw.1'), path)
    assert.deepEqual(relay, {connect: {kind: 'unix', path: '/run/relay.sock'}, timeout: 60_000})
  })
})
