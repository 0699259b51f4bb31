// The real OpenSSH client against an in-process korv server: `ssh -W` carries gzip-member framing on a
// direct-tcpip channel, `ssh -s … korv` carries NDJSON on the subsystem; client keys from restwire and
// from ssh-keygen, host key checking by OpenSSH's own known_hosts code.
import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {appendFile, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import zlib from 'node:zlib'
import {GzipMemberDecoder} from '../../src/core/framing/gzip-member.js'
import type {KorvRequestLog} from '../../src/core/korv/channel-session.js'
import {type KorvResponseMessage, parseKorvResponse} from '../../src/core/korv/messages.js'
import {type RunningKorv, makeKorvKeys, startKorv} from '../helpers/korv-fixture.js'
import {makeKeyWithSshKeygen, sshKeygen, useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

/** Upper bound for one ssh run; a run that needs it is a failure (a hang), never a timing check. */
const SSH_TIMEOUT_MS = 30_000

interface SshExit {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: Buffer
  stderr: string
  timedOut: boolean
}

interface SshRun {
  child: ChildProcess
  /** Resolves once `ready(stdout so far)` holds; rejects if ssh exits first. */
  until(ready: (stdout: Buffer) => boolean): Promise<void>
  /** Always resolves: on exit, or after SSH_TIMEOUT_MS with the child killed and `timedOut` set. */
  exited: Promise<SshExit>
}

const children = new Set<ChildProcess>()

function runSsh(args: string[]): SshRun {
  const child = spawn(tool('ssh'), args, {stdio: ['pipe', 'pipe', 'pipe']})
  children.add(child)
  const stdout: Buffer[] = []
  let stderr = ''
  let exitedNow = false
  const watchers = new Set<() => void>()
  child.stdin!.on('error', () => {}) // EPIPE when ssh exits before reading its stdin (refused runs)
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout.push(chunk)
    for (const watcher of watchers) watcher()
  })
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<SshExit>((resolve) => {
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, SSH_TIMEOUT_MS)
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer)
      children.delete(child)
      exitedNow = true
      for (const watcher of watchers) watcher()
      resolve({code, signal, stderr, stdout: Buffer.concat(stdout), timedOut})
    }

    child.once('error', (error) => {
      stderr += `spawn failed: ${error.message}`
      finish(null, null)
    })
    child.once('close', finish)
  })
  return {
    child,
    exited,
    until: (ready) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (ready(Buffer.concat(stdout))) {
            watchers.delete(check)
            resolve()
          } else if (exitedNow) {
            watchers.delete(check)
            reject(new Error(`ssh exited before the expected output; stderr: ${stderr}`))
          }
        }

        watchers.add(check)
        check()
      }),
  }
}

function assertExited(result: SshExit, code: number): void {
  assert.equal(result.timedOut, false, `ssh did not exit by itself within ${SSH_TIMEOUT_MS} ms; stderr: ${result.stderr}`)
  assert.equal(result.code, code, `ssh exit status; stderr: ${result.stderr}`)
}

function sshOptions(key: string, knownHosts: string, strict: 'accept-new' | 'yes' = 'accept-new'): string[] {
  return [
    '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', `StrictHostKeyChecking=${strict}`,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=10',
    '-i', key,
    '-T',
  ]
}

const gzipRequest = (id: number, verb: string, resource: string, body: unknown = null): Buffer =>
  zlib.gzipSync(JSON.stringify({body, id, resource, verb}))

const ndjsonRequest = (id: number, verb: string, resource: string, body: unknown = null): string =>
  JSON.stringify({body, id, resource, verb}) + '\n'

/** Every complete gzip member in `bytes`, as responses; a trailing partial member is left out. */
function decodeGzipResponses(bytes: Buffer): KorvResponseMessage[] {
  const responses: KorvResponseMessage[] = []
  const decoder = new GzipMemberDecoder({
    onError: (error) => assert.fail(`ssh -W output is not a stream of gzip members: ${error.message}`),
    onMessage: (payload) => {
      const response = parseKorvResponse(payload)
      assert.ok(response, `not a korv response: ${payload.toString()}`)
      responses.push(response)
    },
  })
  decoder.push(bytes)
  return responses
}

function decodeNdjsonResponses(bytes: Buffer): KorvResponseMessage[] {
  const text = bytes.toString()
  assert.ok(text === '' || text.endsWith('\n'), `NDJSON output ends mid-line: ${JSON.stringify(text)}`)
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const response = parseKorvResponse(line)
      assert.ok(response, `not a korv response line: ${line}`)
      return response
    })
}

const byRequestId = (responses: KorvResponseMessage[]): Map<unknown, KorvResponseMessage> =>
  new Map(responses.map((response) => [response.request_id, response]))

/** The SHA256 fingerprint as `ssh-keygen -l` prints it. */
async function keygenFingerprint(publicKeyPath: string): Promise<string> {
  const [, fingerprint] = (await sshKeygen('-l', '-E', 'sha256', '-f', publicKeyPath)).split(' ')
  assert.match(fingerprint ?? '', /^SHA256:/)
  return fingerprint!
}

describe('korv with the OpenSSH client', {skip: skipWithout('ssh', 'ssh-keygen')}, () => {
  const dir = useTempDir('restwire-openssh-')
  let korv: RunningKorv
  let knownHosts: string
  let keygenEd25519: string
  let keygenRsa: string
  let stranger: string
  const logs: KorvRequestLog[] = []

  before(async () => {
    const keys = await makeKorvKeys(dir())
    knownHosts = keys.knownHostsPath
    keygenEd25519 = await makeKeyWithSshKeygen(dir(), 'id_ed25519', 'ed25519')
    keygenRsa = await makeKeyWithSshKeygen(dir(), 'id_rsa', 'rsa')
    stranger = await makeKeyWithSshKeygen(dir(), 'stranger', 'ed25519')
    for (const key of [keygenEd25519, keygenRsa]) await appendFile(keys.authorizedKeysPath, await readFile(`${key}.pub`, 'utf8'))
    korv = await startKorv(keys, {onRequest: (entry) => logs.push(entry)}, (server) =>
      server
        .route('GET', '/hello', () => ({msg: 'Hello World!'}))
        .route('STORE', '/echo', ({body}) => [201, body])
        .route('GET', '/whoami', ({client}) => ({fingerprint: client.fingerprint})),
    )
  })

  after(async () => {
    for (const child of children) child.kill('SIGKILL')
    await korv?.handle.close({drainMs: 100})
  })

  const forward = (key: string, options: {knownHosts?: string; strict?: 'accept-new' | 'yes'} = {}): SshRun =>
    runSsh([...sshOptions(key, options.knownHosts ?? knownHosts, options.strict), '-p', String(korv.port), '-W', `127.0.0.1:${korv.port}`, 'korv@127.0.0.1'])

  const subsystem = (key: string): SshRun => runSsh([...sshOptions(key, knownHosts), '-p', String(korv.port), '-s', 'korv@127.0.0.1', 'korv'])

  it('ssh -W: a gzip-member request is answered; once stdin ends the server closes the channel and ssh exits 0', async () => {
    const ssh = forward(korv.keys.clientKeyPath)
    ssh.child.stdin!.write(gzipRequest(1, 'GET', '/hello'))
    await ssh.until((stdout) => decodeGzipResponses(stdout).length >= 1)
    ssh.child.stdin!.end()
    const result = await ssh.exited
    assertExited(result, 0)
    const responses = decodeGzipResponses(result.stdout)
    assert.equal(responses.length, 1)
    assert.equal(responses[0]!.request_id, 1)
    assert.equal(responses[0]!.code, 200)
    assert.deepEqual(responses[0]!.body, {msg: 'Hello World!'})
  })

  it('ssh -W: several requests in one write all get answered before the channel closes', async () => {
    const ssh = forward(korv.keys.clientKeyPath)
    const body = {list: [1, 2, 3], name: 'ada', text: 'héllo ✓'}
    ssh.child.stdin!.end(
      Buffer.concat([
        gzipRequest(1, 'GET', '/hello'),
        gzipRequest(2, 'STORE', '/echo', body),
        gzipRequest(3, 'GET', '/nope'),
        gzipRequest(4, 'POST', '/echo', 'plain'),
        gzipRequest(5, 'DELETE', '/hello'),
      ]),
    )
    const result = await ssh.exited
    assertExited(result, 0)
    const responses = byRequestId(decodeGzipResponses(result.stdout))
    assert.deepEqual([...responses.keys()].sort(), [1, 2, 3, 4, 5])
    assert.deepEqual(responses.get(1)!.body, {msg: 'Hello World!'})
    assert.equal(responses.get(2)!.code, 201)
    assert.deepEqual(responses.get(2)!.body, body)
    assert.equal(responses.get(3)!.code, 404)
    assert.deepEqual([responses.get(4)!.code, responses.get(4)!.body], [201, 'plain'])
    assert.equal(responses.get(5)!.code, 405)
  })

  it('ssh -s korv: NDJSON requests on stdin get one response line each, and ssh exits after stdin ends', async () => {
    const ssh = subsystem(korv.keys.clientKeyPath)
    ssh.child.stdin!.write(ndjsonRequest(1, 'GET', '/hello'))
    await ssh.until((stdout) => decodeNdjsonResponses(stdout).length >= 1)
    ssh.child.stdin!.end(ndjsonRequest(2, 'STORE', '/echo', {n: 2}) + ndjsonRequest(3, 'GET', '/nope') + '{"not": "a request"}\n')
    const result = await ssh.exited
    assertExited(result, 0)
    const lines = decodeNdjsonResponses(result.stdout)
    assert.equal(lines.length, 4)
    const responses = byRequestId(lines)
    assert.deepEqual(responses.get(1)!.body, {msg: 'Hello World!'})
    assert.deepEqual([responses.get(2)!.code, responses.get(2)!.body], [201, {n: 2}])
    assert.equal(responses.get(3)!.code, 404)
    assert.equal(responses.get(0)!.code, 400, 'a line that is not a request gets a 400 with request_id 0')
  })

  for (const [name, key] of [
    ['ed25519', () => keygenEd25519],
    ['RSA', () => keygenRsa],
  ] as const) {
    it(`a ${name} key made by ssh-keygen authenticates on both channel kinds, as that key`, async () => {
      const fingerprint = await keygenFingerprint(`${key()}.pub`)

      const forwarded = forward(key())
      forwarded.child.stdin!.end(gzipRequest(7, 'GET', '/whoami'))
      const forwardedResult = await forwarded.exited
      assertExited(forwardedResult, 0)
      const [viaForward] = decodeGzipResponses(forwardedResult.stdout)
      assert.deepEqual(viaForward?.body, {fingerprint})

      const session = subsystem(key())
      session.child.stdin!.end(ndjsonRequest(8, 'GET', '/whoami'))
      const sessionResult = await session.exited
      assertExited(sessionResult, 0)
      const [viaSubsystem] = decodeNdjsonResponses(sessionResult.stdout)
      assert.deepEqual(viaSubsystem?.body, {fingerprint})
    })
  }

  it('a key not in authorized_keys is refused: ssh exits 255 with "Permission denied" and nothing is served', async () => {
    const served = logs.length
    const ssh = forward(stranger)
    ssh.child.stdin!.end(gzipRequest(1, 'GET', '/hello'))
    const result = await ssh.exited
    assertExited(result, 255)
    assert.match(result.stderr, /Permission denied \(publickey\)/)
    assert.equal(result.stdout.length, 0)
    assert.equal(logs.length, served)
  })

  it('OpenSSH verifies the host key restwire generated: accept-new records it, ssh-keygen -F finds it, strict checking then connects', async () => {
    const fresh = join(dir(), 'known_hosts_fresh')
    await writeFile(fresh, '', {mode: 0o600})
    const first = forward(korv.keys.clientKeyPath, {knownHosts: fresh})
    first.child.stdin!.end(gzipRequest(1, 'GET', '/hello'))
    assertExited(await first.exited, 0)

    const [, hostKeyBase64] = (await readFile(`${korv.keys.hostKeyPath}.pub`, 'utf8')).trim().split(' ')
    const found = await sshKeygen('-F', `[127.0.0.1]:${korv.port}`, '-f', fresh)
    assert.match(found, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${korv.port} ssh-ed25519 ${hostKeyBase64!.replaceAll('+', '\\+')}$`, 'm'))

    const strict = forward(korv.keys.clientKeyPath, {knownHosts: fresh, strict: 'yes'})
    strict.child.stdin!.end(gzipRequest(2, 'GET', '/hello'))
    const result = await strict.exited
    assertExited(result, 0)
    assert.deepEqual(decodeGzipResponses(result.stdout)[0]?.body, {msg: 'Hello World!'})
  })

  it('StrictHostKeyChecking=yes with a known_hosts entry for a different key refuses to connect', async () => {
    const otherHostKey = await makeKeyWithSshKeygen(dir(), 'other_host_key', 'ed25519')
    const [type, base64] = (await readFile(`${otherHostKey}.pub`, 'utf8')).trim().split(' ')
    const wrong = join(dir(), 'known_hosts_wrong')
    await writeFile(wrong, `[127.0.0.1]:${korv.port} ${type} ${base64}\n`, {mode: 0o600})
    const served = logs.length
    const ssh = forward(korv.keys.clientKeyPath, {knownHosts: wrong, strict: 'yes'})
    ssh.child.stdin!.end(gzipRequest(1, 'GET', '/hello'))
    const result = await ssh.exited
    assertExited(result, 255)
    assert.match(result.stderr, /Host key verification failed/)
    assert.equal(result.stdout.length, 0)
    assert.equal(logs.length, served)
  })
})
