// Passphrase prompts on a pseudo-terminal: a wrong passphrase says so and asks again (3 tries, like
// ssh); keys gen asks again when the confirmation does not match.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type ServeProcess, restwire, root, startServe} from '../helpers/cli.js'
import {sshKeygen, useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

/** Runs the CLI on a pseudo-terminal (test/fixtures/tty-driver.py), typing answers to its prompts. */
function onTerminal(steps: string[][], args: string[], env: Record<string, string>): Promise<{code: number; output: string}> {
  const driver = join(root, 'test', 'fixtures', 'tty-driver.py')
  return new Promise((resolve) => {
    execFile(tool('python3'), [driver, JSON.stringify(steps), '--', process.execPath, join(root, 'bin', 'run.js'), ...args], {env: {...process.env, ...env}, timeout: 90_000}, (error, stdout) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, output: stdout})
    })
  })
}

// eslint-disable-next-line no-control-regex
const plain = (text: string): string => text.replaceAll(/\u001B\[[0-9;]*m/g, '')

describe('the passphrase of an encrypted key, on a terminal', {skip: skipWithout('python3')}, () => {
  const dir = useTempDir()
  let env: Record<string, string>
  let serve: ServeProcess
  let key: string
  const callArgs = (): string[] => ['korv', 'call', '--to', String(serve.port), '-i', key, '--accept-new', 'GET', '/hello']

  before(async () => {
    env = {RESTWIRE_HOME: join(dir(), 'home')}
    serve = await startServe(['--demo'], env)
    key = join(dir(), 'secret_key')
    const made = await restwire(['keys', 'gen', '-f', key, '--passphrase-env', 'PW', '--authorize', join(env.RESTWIRE_HOME!, 'authorized_keys')], {...env, PW: 'open sesame'})
    assert.equal(made.code, 0, made.stderr)
  })
  after(async () => {
    await serve?.stop()
  })

  it('says a wrong passphrase is wrong and asks again', async () => {
    const steps = [
      ['Enter passphrase for', 'wrong\r'],
      ['(?s)Wrong passphrase.*Enter passphrase for', 'open sesame\r'],
    ]
    const result = await onTerminal(steps, callArgs(), env)
    const output = plain(result.output)
    assert.equal(result.code, 0, output)
    assert.ok(output.includes('Wrong passphrase. Try again (2 of 3).'), output)
    assert.match(output, /"msg": "Hello World!"/)
  })

  it('gives up after 3 wrong answers (exit 10)', async () => {
    const steps = [
      ['Enter passphrase for', 'one\r'],
      ['\\(2 of 3\\)[\\s\\S]*Enter passphrase for', 'two\r'],
      ['\\(3 of 3\\)[\\s\\S]*Enter passphrase for', 'three\r'],
    ]
    const result = await onTerminal(steps, callArgs(), env)
    const output = plain(result.output)
    assert.equal(result.code, 10, output)
    assert.ok(output.includes(`Error: Wrong passphrase for the private key ${key} (3 tries)`), output)
    assert.ok(output.includes('(RW_ERR_KEY_FILE, exit 10)'), output)
  })
})

describe('keys gen --passphrase, on a terminal', {skip: skipWithout('python3', 'ssh-keygen')}, () => {
  const dir = useTempDir()

  it('asks again when the confirmation does not match', async () => {
    const key = join(dir(), 'retyped_key')
    const steps = [
      ['Enter passphrase \\(empty', 'first\r'],
      ['Enter same passphrase again', 'frist\r'],
      ['(?s)do not match.*Enter passphrase \\(empty', 'second\r'],
      ['(?s)do not match.*Enter same passphrase again', 'second\r'],
    ]
    const result = await onTerminal(steps, ['keys', 'gen', '-f', key, '--passphrase'], {RESTWIRE_HOME: join(dir(), 'home')})
    const output = plain(result.output)
    assert.equal(result.code, 0, output)
    assert.ok(output.includes('The passphrases do not match. Try again (2 of 3).'), output)
    assert.match(output, /Your identification has been saved in/)
    const publicLine = await sshKeygen('-y', '-P', 'second', '-f', key)
    assert.match(publicLine, /^ssh-ed25519 /)
  })

  it('gives up after 3 mismatches (exit 2) and writes nothing', async () => {
    const key = join(dir(), 'never_key')
    const steps: string[][] = []
    for (let round = 1; round <= 3; round++) {
      const seen = round === 1 ? '' : `\\(${round} of 3\\)[\\s\\S]*`
      steps.push([`${seen}Enter passphrase \\(empty`, `a${round}\r`], [`${seen}Enter same passphrase again`, `b${round}\r`])
    }

    const result = await onTerminal(steps, ['keys', 'gen', '-f', key, '--passphrase'], {RESTWIRE_HOME: join(dir(), 'home')})
    const output = plain(result.output)
    assert.equal(result.code, 2, output)
    assert.ok(output.includes('Error: The passphrases did not match (3 tries)'), output)
    assert.ok(output.includes('Hint: Run the command again, or pass --passphrase-env NAME.'), output)
    await assert.rejects(sshKeygen('-l', '-f', key))
  })
})
