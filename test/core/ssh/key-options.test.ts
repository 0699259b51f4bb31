import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {keyOptionsRefusal, matchesPatternList, parseExpiryTime} from '../../../src/core/ssh/key-options.js'

describe('authorized_keys options', () => {
  it('from= matches addresses by wildcard and CIDR, a negation wins, IPv4-mapped addresses count as IPv4', () => {
    assert.equal(matchesPatternList('10.1.2.3', '10.*'), true)
    assert.equal(matchesPatternList('10.1.2.3', '10.1.2.?'), true)
    assert.equal(matchesPatternList('10.1.2.3', '192.168.0.0/16,10.0.0.0/8'), true)
    assert.equal(matchesPatternList('10.1.2.3', '10.0.0.0/8,!10.1.2.3'), false)
    assert.equal(matchesPatternList('10.1.2.3', '!10.9.9.9'), false, 'only negations: nothing matched')
    assert.equal(matchesPatternList('::1', '::1/128'), true)
    assert.equal(matchesPatternList('::1', '127.0.0.0/8'), false)
    assert.equal(matchesPatternList('10.1.2.3', '10.0.0.0/99'), false, 'a bad prefix matches nothing')
    assert.equal(keyOptionsRefusal(['from="127.0.0.1"'], {address: '::ffff:127.0.0.1'}), undefined)
    assert.match(keyOptionsRefusal(['no-pty', 'from="10.0.0.0/8"'], {address: '127.0.0.1'}) ?? '', /limited to from="10.0.0.0\/8"/)
    assert.match(keyOptionsRefusal(['from="10.*"'], {}) ?? '', /client is unknown/)
  })

  it('expiry-time= refuses the key from that moment on; an unreadable one refuses it too', () => {
    assert.equal(parseExpiryTime('20300101Z')?.toISOString(), '2030-01-01T00:00:00.000Z')
    assert.equal(parseExpiryTime('203001021230Z')?.toISOString(), '2030-01-02T12:30:00.000Z')
    assert.equal(parseExpiryTime('2030010212305959'), undefined)
    const now = new Date('2026-11-23T12:00:00Z')
    assert.equal(keyOptionsRefusal(['expiry-time="20261124Z"'], {now}), undefined)
    assert.match(keyOptionsRefusal(['expiry-time="20261123Z"'], {now}) ?? '', /expired at 2026-11-23T00:00:00.000Z/)
    assert.match(keyOptionsRefusal(['expiry-time="soon"'], {now}) ?? '', /unreadable expiry-time/)
  })

  it('ignores options that do not apply to korv channels', () => {
    assert.equal(keyOptionsRefusal(['restrict', 'command="echo hi"', 'no-port-forwarding', 'permitopen="x:1"'], {address: '127.0.0.1'}), undefined)
  })
})
