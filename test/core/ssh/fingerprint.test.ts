import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import {describe, it} from 'node:test'
import {sha256Fingerprint} from '../../../src/core/ssh/fingerprint.js'
import {makeKeyWithSshKeygen, sshKeygen, useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

describe('sha256Fingerprint', () => {
  const tempDir = useTempDir()

  it('equals ssh-keygen -l for ed25519, RSA and ECDSA keys', {skip: skipWithout('ssh-keygen')}, async () => {
    for (const [type, extra] of [['ed25519', []], ['rsa', ['-b', '2048']], ['ecdsa', ['-b', '384']]] as const) {
      const path = await makeKeyWithSshKeygen(tempDir(), `key-${type}`, type, {extra: [...extra]})
      const blob = Buffer.from((await readFile(`${path}.pub`, 'utf8')).split(' ')[1]!, 'base64')
      const expected = (await sshKeygen('-l', '-E', 'sha256', '-f', `${path}.pub`)).split(' ')[1]
      assert.equal(sha256Fingerprint(blob), expected, type)
    }
  })

  it('has no base64 padding', () => {
    assert.match(sha256Fingerprint(Buffer.from('x')), /^SHA256:[A-Za-z0-9+/]{43}$/)
  })
})
