// Named targets: the config file's validation (every problem named targets.NAME.FIELD), the lines kept
// for `config show`, the choice of target (flag, env, default_target) and the precedence of a setting.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {type FlagParsers, TARGET_FLAGS, resolveSettings} from '../../src/cli/targets.js'
import KorvCall from '../../src/commands/korv/call.js'
import PipeConnect from '../../src/commands/pipe/connect.js'
import RelaySend from '../../src/commands/relay/send.js'
import TunnelCall from '../../src/commands/tunnel/call.js'
import {isRestwireError} from '../../src/core/errors.js'
import {mergeSetting, parseTargetsConfig, selectTarget} from '../../src/core/targets.js'

const env = {HOME: '/home/ada'}
const path = '/etc/rw/config.yaml'

const FULL = `# restwire targets
default_target: prod
targets:
  prod:
    to: api.example.com:2222
    user: deploy
    identity: ~/.ssh/id_ed25519
    known_hosts: keys/known_hosts
    timeout: 5s
    connect_timeout: 2
  v6:
    to: "[::1]:8022"
    identity: [a.key, /abs/b.key]
  gw.1:
    to: http://127.0.0.1:9090/
  relay:
    to: unix:/run/relay.sock
  host:
    to: gw.example.com
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
    assert.deepEqual([...config.targets.keys()], ['prod', 'v6', 'gw.1', 'relay', 'host'])
    assert.deepEqual(config.defaultTarget, {line: 2, name: 'prod'})
    const prod = config.targets.get('prod')!
    assert.deepEqual(prod.settings, {
      connect_timeout: 2000,
      identity: ['/home/ada/.ssh/id_ed25519'],
      known_hosts: '/etc/rw/keys/known_hosts',
      timeout: 5000,
      to: 'api.example.com:2222',
      user: 'deploy',
    })
    assert.equal(prod.line, 4)
    assert.deepEqual(prod.lines, {connect_timeout: 10, identity: 7, known_hosts: 8, timeout: 9, to: 5, user: 6})
    assert.deepEqual(config.targets.get('v6')!.settings, {identity: ['/etc/rw/a.key', '/abs/b.key'], to: '[::1]:8022'})
    assert.deepEqual(config.targets.get('gw.1')!.settings, {to: 'http://127.0.0.1:9090/'})
    assert.deepEqual(config.targets.get('relay')!.settings, {to: 'unix:/run/relay.sock'})
  })

  it('takes an empty file or an empty targets mapping', async () => {
    assert.equal((await parseTargetsConfig('', path, env)).targets.size, 0)
    assert.equal((await parseTargetsConfig('targets:\n', path, env)).targets.size, 0)
  })

  it('reports every problem at once, named targets.NAME.FIELD; unknown fields are errors', async () => {
    const problems = await problemsOf(`targets:
  a:
    adress: x:1
    to: "host:99999"
    timeout: -1
    connect_timeout: 10 years
    relay: tcp://127.0.0.1:9876
    gateway: http://x
    identity: []
    user: "two words"
  "-bad":
    user: u
  c: just a string
colour: red
`)
    assert.deepEqual(problems, [
      'targets.a.adress: unknown field (expected one of to, user, identity, known_hosts, timeout, connect_timeout, persist)',
      'targets.a.to: must be an address as --to takes it: HOST:PORT, [IPv6]:PORT, http://HOST:PORT, tcp://HOST:PORT or unix:/path (a list of them for pipe connect and tunnel expose); got "host:99999"',
      'targets.a.timeout: must be a duration up to 24 days (500ms, 30s, 2m, 1h, or a number of seconds); got -1',
      'targets.a.connect_timeout: must be a duration up to 24 days (500ms, 30s, 2m, 1h, or a number of seconds); got "10 years"',
      'targets.a.relay: was renamed: write "to:" (what the command\'s --to takes)',
      'targets.a.gateway: was renamed: write "to:" (what the command\'s --to takes)',
      'targets.a.identity: must be a key file path or a list of them, got []',
      'targets.a.user: must be a user name, got "two words"',
      'targets.-bad: a target name is letters, digits, ".", "_" and "-", starting with a letter or digit',
      'targets.c: must be a mapping of settings (to, user, identity...)',
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
      assert.match(error.message, /no target "staging" \(--target\) in \/etc\/rw\/config.yaml; known: prod, v6, gw.1, relay, host/)
      return true
    })
    assert.throws(() => selectTarget(undefined, path, undefined, {RESTWIRE_TARGET: 'prod'}), /no target "prod" \(RESTWIRE_TARGET\): there is no config file/)
  })
})

describe('precedence', () => {
  it('an explicit flag wins over the target, the target over the default', async () => {
    const file = await parseTargetsConfig(FULL, path, env)
    const prod = file.targets.get('prod')!
    assert.deepEqual(mergeSetting({explicit: true, value: 'other'}, prod, 'user', path), {source: {kind: 'flag'}, value: 'other'})
    assert.deepEqual(mergeSetting({explicit: false, value: 'korv'}, prod, 'user', path), {source: {kind: 'config', line: 6, path}, value: 'deploy'})
    assert.deepEqual(mergeSetting({explicit: false, value: 30_000}, file.targets.get('relay'), 'timeout', path), {source: {kind: 'default'}, value: 30_000})
    assert.deepEqual(mergeSetting({explicit: false, value: 'korv'}, undefined, 'user', path), {source: {kind: 'default'}, value: 'korv'})
  })

  it("fills a command's flags in place: defaults replaced, typed flags kept, `to:` parsed by the command's --to", async () => {
    const config = await parseTargetsConfig(FULL, path, env)
    const korv: Record<string, unknown> = {'connect-timeout': 10_000, timeout: 30_000, to: {host: '127.0.0.1', kind: 'tcp', port: 9000}, user: 'korv'}
    const korvOptions = {definitions: KorvCall.flags as FlagParsers, flags: korv, fromDefault: new Set(['connect-timeout', 'timeout', 'user']), map: TARGET_FLAGS['korv:call']!}
    const applied = await resolveSettings(korvOptions, config.targets.get('prod'), path)
    assert.deepEqual(korv, {
      'connect-timeout': 2000,
      identity: ['/home/ada/.ssh/id_ed25519'],
      'known-hosts': '/etc/rw/keys/known_hosts',
      timeout: 5000,
      to: {host: '127.0.0.1', kind: 'tcp', port: 9000},
      user: 'deploy',
    })
    assert.deepEqual(applied.settings.to, {source: {kind: 'flag'}, value: {host: '127.0.0.1', kind: 'tcp', port: 9000}})
    // A bare host gets korv call's default port.
    const host: Record<string, unknown> = {to: undefined}
    await resolveSettings({...korvOptions, flags: host, fromDefault: new Set(['to'])}, config.targets.get('host'), path)
    assert.deepEqual(host.to, {host: 'gw.example.com', kind: 'tcp', port: 8022})

    const relay: Record<string, unknown> = {timeout: 30_000, to: {host: '127.0.0.1', kind: 'tcp', port: 9876, scheme: 'tcp'}}
    await resolveSettings({definitions: RelaySend.flags as FlagParsers, flags: relay, fromDefault: new Set(['to', 'timeout']), map: TARGET_FLAGS['relay:send']!}, config.targets.get('relay'), path)
    assert.deepEqual(relay, {timeout: 30_000, to: {kind: 'unix', path: '/run/relay.sock'}})

    const tunnel: Record<string, unknown> = {timeout: 30_000, to: undefined}
    await resolveSettings({definitions: TunnelCall.flags as FlagParsers, flags: tunnel, fromDefault: new Set(['to', 'timeout']), map: TARGET_FLAGS['tunnel:call']!}, config.targets.get('gw.1'), path)
    assert.deepEqual(tunnel.to, {host: '127.0.0.1', kind: 'tcp', port: 9090, scheme: 'http'})
  })

  it('a `to:` that the command does not take is a config error naming the file, line and target', async () => {
    const config = await parseTargetsConfig(FULL, path, env)
    const flags: Record<string, unknown> = {timeout: 30_000, to: undefined}
    await assert.rejects(
      resolveSettings({definitions: KorvCall.flags as FlagParsers, flags, fromDefault: new Set(['to']), map: TARGET_FLAGS['korv:call']!}, config.targets.get('relay'), path),
      (error: unknown) => {
        assert.ok(isRestwireError(error))
        assert.equal(error.code, 'RW_ERR_CONFIG')
        assert.equal(error.message, '/etc/rw/config.yaml:17: targets.relay.to: cannot be a UNIX socket here, got "unix:/run/relay.sock" (as --to)')
        return true
      },
    )
  })

  it('`to:` may list several hubs or gateways (YAML list or comma-separated): filling a --to that takes several, refused by one that takes one', async () => {
    const config = await parseTargetsConfig(`targets:
  hubs:
    to: [hub-a.example.com:7443, "[::1]:7443"]
  comma:
    to: hub-a.example.com:7443, hub-b.example.com:7443
  bad:
    to: [hub-a.example.com:7443, "host:99999"]
`, path, env).catch((error: unknown) => error)
    assert.ok(isRestwireError(config))
    assert.deepEqual(config.details?.problems, ['targets.bad.to: must be an address as --to takes it: HOST:PORT, [IPv6]:PORT, http://HOST:PORT, tcp://HOST:PORT or unix:/path (a list of them for pipe connect and tunnel expose); got ["hub-a.example.com:7443","host:99999"]'])
    const good = await parseTargetsConfig('targets:\n  hubs:\n    to: [hub-a.example.com:7443, "[::1]:7443"]\n  comma:\n    to: hub-a.example.com:7443, hub-b.example.com:7443\n  one:\n    to: [hub-a.example.com:7443]\n', path, env)
    assert.deepEqual(good.targets.get('hubs')!.settings.to, ['hub-a.example.com:7443', '[::1]:7443'])
    assert.deepEqual(good.targets.get('comma')!.settings.to, ['hub-a.example.com:7443', 'hub-b.example.com:7443'])
    assert.equal(good.targets.get('one')!.settings.to, 'hub-a.example.com:7443')

    const pipe: Record<string, unknown> = {to: undefined}
    const pipeOptions = {definitions: PipeConnect.flags as FlagParsers, flags: pipe, fromDefault: new Set<string>(), map: TARGET_FLAGS['pipe:connect']!}
    await resolveSettings(pipeOptions, good.targets.get('hubs'), path)
    assert.deepEqual(pipe.to, [{host: 'hub-a.example.com', kind: 'tcp', port: 7443}, {host: '::1', kind: 'tcp', port: 7443}])
    const single: Record<string, unknown> = {to: undefined}
    await resolveSettings({...pipeOptions, flags: single}, good.targets.get('one'), path)
    assert.deepEqual(single.to, [{host: 'hub-a.example.com', kind: 'tcp', port: 7443}], 'one address is a list of one')

    const korv: Record<string, unknown> = {to: undefined}
    await assert.rejects(
      resolveSettings({definitions: KorvCall.flags as FlagParsers, flags: korv, fromDefault: new Set(['to']), map: {to: 'to'}}, good.targets.get('comma'), path),
      (error: unknown) => {
        assert.ok(isRestwireError(error))
        assert.equal(error.code, 'RW_ERR_CONFIG')
        assert.equal(error.message, '/etc/rw/config.yaml:5: targets.comma.to: takes one address, the target lists 2 (as --to)')
        return true
      },
    )
  })
})
