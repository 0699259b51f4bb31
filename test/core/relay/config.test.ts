// Relay config validation (every problem named by request and field), YAML and JSON files, and the line
// decoder fed with bytes.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {RestwireError, isRestwireError} from '../../../src/core/errors.js'
import {maskUrlPassword, validateRelayConfig} from '../../../src/core/relay/config.js'
import {loadRelayConfig} from '../../../src/core/relay/load-config.js'
import {useTempDir} from '../../helpers/ssh-tools.js'

const validate = (raw: unknown, env: NodeJS.ProcessEnv = {}) => validateRelayConfig(raw, 'relay.json', {env, readCa: () => '-----BEGIN CERTIFICATE-----\n'})

function problemsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validate(raw, env)
  } catch (error) {
    assert.ok(isRestwireError(error, 'RW_ERR_CONFIG'))
    return (error as RestwireError).details!.problems as string[]
  }

  assert.fail('expected the config to be refused')
}

describe('relay config validation', () => {
  it('accepts a full template and compiles it', () => {
    const config = validate({
      max_concurrency: 8,
      requests: {
        user: {auth: {token_env: 'T', type: 'bearer'}, expect: [200, 204], headers: {'X-A': 'b'}, method: 'get', query: {q: '{term}'}, retries: 1, timeout: '2s', url: 'https://api.example.com/user/{user_id}'},
      },
      timeout: 5,
    }, {T: 'secret'})
    const user = config.requests.get('user')!
    assert.equal(user.method, 'GET')
    assert.equal(user.origin, 'https://api.example.com')
    assert.deepEqual(user.placeholders, ['user_id', 'term'])
    assert.deepEqual(user.expect, [200, 204])
    assert.equal(user.timeoutMs, 2000)
    assert.equal(user.headers.authorization, 'Bearer secret')
    assert.equal(config.maxConcurrency, 8)
  })

  it('names the request and the field of every problem', () => {
    const problems = problemsOf({
      requests: {
        a: {method: 'FETCH', url: 'ftp://x'},
        b: {expect: 999, method: 'POST', retries: 2, url: 'https://{host}/x'},
        c: {auth: {token: 'inline-secret', token_env: 'MISSING', type: 'bearer'}, method: 'GET', timeout: 'soon', url: 'http://h/'},
        e: {method: 'GET', retry_backoff: 0, timeout: 1e9, url: 'http://h/'},
        d: {body: 'xml', expected: 200, headers: {'Bad Header': 'x', Y: 'a\nb'}, method: 'PUT', url: 'http://h/'},
      },
      surprise: true,
    })
    const expected = [
      /^surprise: unknown field/,
      /^requests\.a\.method: must be one of GET/,
      /^requests\.a\.url: must start with http/,
      /^requests\.b\.url: placeholders are not allowed in the scheme, host or port/,
      /^requests\.b\.retries: only idempotent methods .* not POST/,
      /^requests\.b\.expect: must be an HTTP status/,
      /^requests\.c\.auth\.token: secrets are never written in the config/,
      /^requests\.c\.auth\.token_env: environment variable MISSING is not set/,
      /^requests\.c\.timeout: must be a duration/,
      /^requests\.e\.timeout: must be a duration up to 24 days/,
      /^requests\.e\.retry_backoff: must be a duration/,
      /^requests\.d\.expected: unknown field/,
      /^requests\.d\.headers\.Bad Header: is not a valid header name/,
      /^requests\.d\.headers\.Y: must not contain CR, LF or NUL/,
      /^requests\.d\.body: must be "json" or "form"/,
    ]
    for (const pattern of expected) assert.ok(problems.some((p) => pattern.test(p)), `${pattern} not in:\n${problems.join('\n')}`)
    assert.ok(!problems.join('\n').includes('inline-secret'), 'a secret written in the config is never echoed')
  })

  it('refuses a file without requests', () => {
    assert.match(problemsOf({})[0]!, /^requests: must be an object/)
    assert.match(problemsOf({requests: {}})[0]!, /^requests: names no request/)
    assert.throws(() => validate([]), /must hold an object/)
  })
})

describe('relay config files', () => {
  const dir = useTempDir('restwire-relay-config-')

  it('loads YAML (by extension) and JSON, CA paths relative to the file', async () => {
    writeFileSync(join(dir(), 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    writeFileSync(join(dir(), 'relay.yaml'), 'ca: ca.pem\nrequests:\n  user:\n    method: GET\n    url: "https://api.example.com/user/{id}"\n')
    const yaml = await loadRelayConfig(join(dir(), 'relay.yaml'))
    assert.equal(yaml.requests.get('user')!.url, 'https://api.example.com/user/{id}')
    assert.equal(yaml.ca?.path, 'ca.pem')
    writeFileSync(join(dir(), 'relay.json'), '{"requests": {"ping": {"method": "HEAD", "url": "http://127.0.0.1:1/"}}}')
    assert.equal((await loadRelayConfig(join(dir(), 'relay.json'))).requests.get('ping')!.method, 'HEAD')
  })

  it('reports unreadable files, bad JSON and bad YAML as RW_ERR_CONFIG', async () => {
    await assert.rejects(loadRelayConfig(join(dir(), 'missing.json')), (e) => isRestwireError(e, 'RW_ERR_CONFIG') && /no such file/.test(e.message))
    writeFileSync(join(dir(), 'bad.json'), '{"requests": ')
    await assert.rejects(loadRelayConfig(join(dir(), 'bad.json')), (e) => isRestwireError(e, 'RW_ERR_CONFIG') && /not valid JSON/.test(e.message))
    writeFileSync(join(dir(), 'bad.yml'), 'requests: [unclosed\n')
    await assert.rejects(loadRelayConfig(join(dir(), 'bad.yml')), (e) => isRestwireError(e, 'RW_ERR_CONFIG') && /not valid YAML/.test(e.message))
  })
})

describe('relay config: hostile files and values', () => {
  const dir = useTempDir('restwire-relay-config-hostile-')

  it('a FIFO as the config or as a "ca" file is refused at once (RW_ERR_CONFIG), never read', async () => {
    const fifo = join(dir(), 'relay.fifo')
    execFileSync('mkfifo', [fifo])
    await assert.rejects(loadRelayConfig(fifo), (e) => isRestwireError(e, 'RW_ERR_CONFIG') && /not a regular file/.test(e.message))
    writeFileSync(join(dir(), 'relay.json'), JSON.stringify({ca: 'relay.fifo', requests: {ping: {method: 'GET', url: 'http://127.0.0.1:1/'}}}))
    await assert.rejects(loadRelayConfig(join(dir(), 'relay.json')), (e) => isRestwireError(e, 'RW_ERR_CONFIG') && /ca: cannot read relay\.fifo: not a regular file/.test(e.message))
    await assert.rejects(loadRelayConfig(dir()), (e) => isRestwireError(e, 'RW_ERR_CONFIG') && /not a regular file/.test(e.message))
  })

  it('masks a password written in a URL (the last "@" of the authority ends it); names without one are unchanged', () => {
    assert.equal(maskUrlPassword('https://user:pass@host/x'), 'https://user:***@host/x')
    assert.equal(maskUrlPassword('https://user:p@ss:w@host:8443/a@b?c=@'), 'https://user:***@host:8443/a@b?c=@')
    assert.equal(maskUrlPassword('https://user@host/x'), 'https://user@host/x')
    assert.equal(maskUrlPassword('https://host:8443/a:b@c'), 'https://host:8443/a:b@c')
    assert.deepEqual(problemsOf({requests: {x: {method: 'GET', url: 'ftp://u:secret@h/'}}}), ['requests.x.url: must start with http:// or https://, got "ftp://u:***@h/"'])
  })

  it('a YAML value nested too deeply to print is described in the message, not thrown', () => {
    let deep: unknown = 1
    for (let i = 0; i < 100_000; i++) deep = [deep]
    assert.match(problemsOf({requests: {x: {method: deep, url: 'http://h/'}}})[0]!, /requests\.x\.method: .*a value nested too deeply to show/)
  })
})
