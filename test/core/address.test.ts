// The one address grammar (core/address.ts) and the one duration grammar (core/duration.ts).
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {type AddressSpec, addressForms, formatAddress, parseAddress} from '../../src/core/address.js'
import {formatDuration, parseDuration} from '../../src/core/duration.js'
import {isRestwireError} from '../../src/core/errors.js'

const LISTEN: AddressSpec = {role: 'listen'}
const TO: AddressSpec = {role: 'to'}
const KORV_TO: AddressSpec = {defaultPort: 8022, role: 'to'}
const HTTP_TO: AddressSpec = {role: 'to', schemes: ['http', 'https']}
const RELAY: AddressSpec = {role: 'listen', schemes: ['tcp'], unix: true}

function usageError(text: string, spec: AddressSpec, label?: string): {message: string; hint?: string} {
  try {
    parseAddress(text, spec, label)
  } catch (error) {
    assert.ok(isRestwireError(error))
    assert.equal(error.code, 'RW_ERR_USAGE')
    return {hint: error.hint, message: error.message}
  }

  assert.fail(`"${text}" was accepted`)
}

describe('parseAddress', () => {
  it('takes HOST:PORT, [IPv6]:PORT and a bare PORT (loopback)', () => {
    assert.deepEqual(parseAddress('api.example.com:8022', TO), {host: 'api.example.com', kind: 'tcp', port: 8022})
    assert.deepEqual(parseAddress(' 10.0.0.5:1 ', TO), {host: '10.0.0.5', kind: 'tcp', port: 1})
    assert.deepEqual(parseAddress('[::1]:8022', TO), {host: '::1', kind: 'tcp', port: 8022})
    assert.deepEqual(parseAddress('[fe80::1%eth0]:80', TO), {host: 'fe80::1%eth0', kind: 'tcp', port: 80})
    assert.deepEqual(parseAddress('2222', LISTEN), {host: '127.0.0.1', kind: 'tcp', port: 2222})
    assert.deepEqual(parseAddress('0.0.0.0:0', LISTEN), {host: '0.0.0.0', kind: 'tcp', port: 0})
  })

  it('takes a bare HOST only where the role has a default port', () => {
    assert.deepEqual(parseAddress('api.example.com', KORV_TO), {host: 'api.example.com', kind: 'tcp', port: 8022})
    assert.deepEqual(parseAddress('[::1]', KORV_TO), {host: '::1', kind: 'tcp', port: 8022})
    assert.match(usageError('api.example.com', TO).message, /^--to needs a port \(HOST:PORT\), got "api.example.com"$/)
  })

  it('port 0 only for a listener; ports above 65535 never', () => {
    assert.match(usageError('127.0.0.1:0', TO).message, /has port 0; a port is 1-65535/)
    assert.match(usageError('70000', LISTEN).message, /has port 70000; a port is 0-65535 \(0 picks a free one\)/)
  })

  it('takes a scheme only where the spec lists it; a bare address gets the first', () => {
    assert.deepEqual(parseAddress('127.0.0.1:8080', HTTP_TO), {host: '127.0.0.1', kind: 'tcp', port: 8080, scheme: 'http'})
    assert.deepEqual(parseAddress('https://gw.example.com', HTTP_TO), {host: 'gw.example.com', kind: 'tcp', port: 443, scheme: 'https'})
    assert.deepEqual(parseAddress('http://gw:9/api/', HTTP_TO), {host: 'gw', kind: 'tcp', path: '/api', port: 9, scheme: 'http'})
    assert.deepEqual(parseAddress('HTTP://[::1]:8080', HTTP_TO), {host: '::1', kind: 'tcp', port: 8080, scheme: 'http'})
    assert.deepEqual(parseAddress('tcp://127.0.0.1:9876', RELAY), {host: '127.0.0.1', kind: 'tcp', port: 9876, scheme: 'tcp'})
    assert.deepEqual(parseAddress('127.0.0.1:9876', RELAY), {host: '127.0.0.1', kind: 'tcp', port: 9876, scheme: 'tcp'})
    assert.match(usageError('http://a:1', TO).message, /takes no scheme/)
    assert.match(usageError('ftp://a:1', HTTP_TO).message, /takes only http:\/\/ or https:\/\//)
    assert.match(usageError('tcp://a:1/x', RELAY).message, /has a path, which only an http:\/\/ URL may have/)
  })

  it('takes unix:/path only where a UNIX socket is allowed', () => {
    assert.deepEqual(parseAddress('unix:/run/relay.sock', RELAY), {kind: 'unix', path: '/run/relay.sock'})
    assert.deepEqual(parseAddress('unix:///run/relay.sock', RELAY), {kind: 'unix', path: '/run/relay.sock'})
    assert.deepEqual(parseAddress('unix:relay.sock', RELAY), {kind: 'unix', path: 'relay.sock'})
    assert.match(usageError('unix:', RELAY).message, /needs a socket path/)
    assert.match(usageError('unix:/x.sock', TO).message, /cannot be a UNIX socket here/)
  })

  it('refuses bad input with the flag name, the input and every accepted form', () => {
    const bad = usageError('::1:8022', KORV_TO, '--to')
    assert.equal(bad.message, '--to is an IPv6 address without brackets: write [IPv6]:PORT, got "::1:8022"')
    assert.equal(bad.hint, '--to takes HOST:PORT, [IPv6]:PORT, PORT or HOST (port 8022), e.g. api.example.com:8022.')
    for (const input of ['', 'a b:1', 'host:', ':80', 'host:port', 'a:1:2x', '[::1', 'user@host:22']) assert.match(usageError(input, TO).message, /^--to /)
    assert.match(usageError('x', RELAY, '--listen').hint!, /--listen takes \[tcp:\/\/\]HOST:PORT, \[tcp:\/\/\]\[IPv6\]:PORT, PORT or unix:\/path\/to.sock/)
  })

  it('lists the forms of a spec', () => {
    assert.equal(addressForms(LISTEN), 'HOST:PORT, [IPv6]:PORT or PORT')
    assert.equal(addressForms(HTTP_TO), '[http|https://]HOST:PORT, [http|https://][IPv6]:PORT or PORT')
  })
})

describe('formatAddress', () => {
  it('writes an address back as a flag takes it', () => {
    for (const [text, spec] of [['tcp://[::1]:9876', RELAY], ['unix:/run/x.sock', RELAY], ['http://gw:9/api', HTTP_TO], ['10.0.0.1:22', TO]] as const) {
      assert.equal(formatAddress(parseAddress(text, spec)), text)
    }
  })
})

describe('parseDuration', () => {
  it('takes 500ms, 30s, 2m, 1h and bare seconds (numbers or text)', () => {
    assert.equal(parseDuration('500ms'), 500)
    assert.equal(parseDuration('30s'), 30_000)
    assert.equal(parseDuration(' 2m '), 120_000)
    assert.equal(parseDuration('1h'), 3_600_000)
    assert.equal(parseDuration('1.5'), 1500)
    assert.equal(parseDuration('10 s'), 10_000)
    assert.equal(parseDuration(2), 2000)
    assert.equal(parseDuration(0.25), 250)
  })

  it('refuses 0 unless allowed, negatives, other units, non-numbers and more than a timer holds', () => {
    assert.equal(parseDuration('0'), undefined)
    assert.equal(parseDuration('0', {allowZero: true}), 0)
    for (const raw of [-1, '-1s', '10 years', '1d', 's', '', null, true, '30d', '600h']) assert.equal(parseDuration(raw), undefined, String(raw))
  })

  it('formats with the largest unit that divides', () => {
    assert.deepEqual([0, 500, 30_000, 120_000, 3_600_000, 1500].map(formatDuration), ['0', '500ms', '30s', '2m', '1h', '1500ms'])
  })
})
