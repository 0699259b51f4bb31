// The progress line's text from numbers alone: units, bar, percentage, ETA, and what a narrow terminal drops.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {formatBytes, progressLine} from '../../src/cli/transfer-progress.js'

// eslint-disable-next-line no-control-regex
const plain = (text: string): string => text.replaceAll(/\u001B\[[\d;]*m/g, '')

describe('transfer progress line', () => {
  it('formats sizes in binary units', () => {
    assert.deepEqual([0, 1023, 1024, 1536, 10 * 1024 * 1024, 5.5 * 1024 ** 3].map((n) => formatBytes(n)), ['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '10 MiB', '5.5 GiB'])
  })

  it('with a known size: bar, percentage, rate and ETA; without: bytes and rate', () => {
    const mib = 1024 * 1024
    assert.equal(plain(progressLine('↑ a.bin', 4 * mib, 16 * mib, 2000, 120)), '↑ a.bin [======                  ] 4.0 MiB / 16 MiB  25% 2.0 MiB/s ETA 6s')
    assert.equal(plain(progressLine('↓ b.bin', 3 * mib, undefined, 1000, 120)), '↓ b.bin 3.0 MiB 3.0 MiB/s')
    assert.match(plain(progressLine('↑ a.bin', mib, 200 * mib, 1000, 120)), /ETA 3m19s$/)
  })

  it('fits a narrow terminal: the bar goes first, then the ETA', () => {
    const mib = 1024 * 1024
    assert.equal(plain(progressLine('↑ a.bin', 4 * mib, 16 * mib, 2000, 50)), '↑ a.bin 4.0 MiB / 16 MiB  25% 2.0 MiB/s ETA 6s')
    assert.equal(plain(progressLine('↑ a.bin', 4 * mib, 16 * mib, 2000, 40)), '↑ a.bin 4.0 MiB / 16 MiB  25% 2.0 MiB/s')
    assert.ok(plain(progressLine('↑ a-very-long-file-name.bin', 4 * mib, 16 * mib, 2000, 20)).length < 20)
  })
})
