// The relay's reply lines built from values alone: the rounded `time`, the unknown-name message.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {decimalText, finalLine, roundSeconds, unknownRequestMessage} from '../../../src/core/relay/messages.js'

describe('relay reply lines', () => {
  it('writes time as seconds with at most 4 decimals, a plain JSON number', () => {
    assert.equal(roundSeconds(0.131_249_7), 0.1312)
    assert.equal(roundSeconds(0.000_05), 0.0001)
    assert.equal(roundSeconds(0.000_01), 0)
    assert.equal(roundSeconds(12.345_67), 12.3457)
    const line = finalLine(true, 0.042_123_456_7, '"123"', {id: 7}, 200, {'content-type': 'application/json'})
    assert.equal(line, '{"status":"ok","time":0.0421,"id":"123","response":{"id":7},"http_status":200,"headers":{"content-type":"application/json"}}\n')
    assert.equal((JSON.parse(finalLine(false, 1e-7, '1', null, undefined, undefined)) as {time: number}).time, 0)
  })

  it('decimalText is the text of the rounded number, for any value (integers for the common ones, String() otherwise)', () => {
    const values = [0, 1e-7, 0.000_05, 0.000_01, 0.1, 0.5, 0.131_249_7, 1.05, 12.345_67, 99.995, 100, 12_345.678_9, 86_400_000.004, 1e12, 1e25, -0.5, -12.34, Number.NaN, Number.POSITIVE_INFINITY]
    for (let i = 0; i < 2000; i++) values.push(Math.random() * 10 ** ((i % 12) - 4))
    for (const value of values) {
      for (const digits of [0, 1, 2, 3, 4]) {
        const scale = 10 ** digits
        assert.equal(decimalText(value, digits), String(Math.round(value * scale) / scale), `${value} to ${digits} decimals`)
      }
    }
  })

  it('lists the known names for an unknown one, at most 50 of them', () => {
    assert.equal(unknownRequestMessage('nope', ['user', 'create_user']), 'unknown request "nope"; the requests are: user, create_user')
    const many = Array.from({length: 53}, (_, i) => `r${i}`)
    assert.match(unknownRequestMessage('x"y', many), /^unknown request "x\\"y"; the requests are: r0, r1, .*, r49 and 3 more$/)
  })
})
