import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {agentSocket} from '../../../src/core/ssh/agent.js'
import {useTempDir} from '../../helpers/ssh-tools.js'

describe('agentSocket', {skip: process.platform === 'win32' ? 'unix sockets only' : false}, () => {
  const tempDir = useTempDir()
  let server: Server
  let socketPath: string

  before(async () => {
    socketPath = join(tempDir(), 'agent.sock')
    server = createServer()
    await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  })

  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('returns SSH_AUTH_SOCK when it is a live socket', () => {
    assert.equal(agentSocket({SSH_AUTH_SOCK: socketPath}), socketPath)
  })

  it('ignores an unset, stale or non-socket SSH_AUTH_SOCK', async () => {
    assert.equal(agentSocket({}), undefined)
    assert.equal(agentSocket({SSH_AUTH_SOCK: ''}), undefined)
    assert.equal(agentSocket({SSH_AUTH_SOCK: join(tempDir(), 'gone.sock')}), undefined)
    const file = join(tempDir(), 'plain-file')
    await writeFile(file, '')
    assert.equal(agentSocket({SSH_AUTH_SOCK: file}), undefined)
  })
})
