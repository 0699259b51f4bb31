// KorvClient signing with a key held by a real OpenSSH ssh-agent (the CLI uses SSH_AUTH_SOCK this way).
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {promisify} from 'node:util'
import {makeKorvKeys, startKorv} from '../../helpers/korv-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout, tool} from '../../helpers/tools.js'

const run = promisify(execFile)

describe('korv client with ssh-agent', () => {
  const dir = useTempDir()
  let agentPid: number | undefined
  after(() => {
    if (agentPid) process.kill(agentPid)
  })

  it('authenticates with a key that only the agent holds', {skip: skipWithout('ssh-agent', 'ssh-add')}, async () => {
    const keys = await makeKorvKeys(dir())
    const socket = join(dir(), 'agent.sock')
    // Without -D, ssh-agent returns once it listens, printing its pid.
    const {stdout} = await run(tool('ssh-agent'), ['-s', '-a', socket], {timeout: 10_000})
    agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(stdout)?.[1])
    await run(tool('ssh-add'), [keys.clientKeyPath], {env: {...process.env, SSH_AUTH_SOCK: socket}, timeout: 10_000})

    const korv = await startKorv(keys, {}, (server) => server.route('GET', '/whoami', (req) => req.client.fingerprint))
    const client = await korv.connect({agent: socket, identities: []})
    try {
      assert.equal((await client.request('GET', '/whoami')).body, keys.clientKey.fingerprint)
    } finally {
      await client.close()
      await korv.handle.close()
    }
  })
})
