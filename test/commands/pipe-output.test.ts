// `pipe call` output on a terminal and piped (real hub, node and CLI): the trailing newline a terminal
// needs, and the progress line of long transfers (download to --output, upload of --data @FILE).
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdir, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {root} from '../helpers/cli.js'
import {type PipeProcess, startPipeProcess} from '../helpers/pipe-cli.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

const bin = join(root, 'bin', 'run.js')
const CHUNK = 64 * 1024
const SLOW_CHUNKS = 16
const UPLOAD_BYTES = 16 * 1024 * 1024

// The handlers make each transfer last at least ~1.5 s by waiting between chunks (a lower bound, not a
// speed): long enough for the progress line, which appears after 0.5 s.
const HANDLERS = `
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
export async function* get_slow() {
  for (let i = 0; i < ${SLOW_CHUNKS}; i++) {
    await sleep(100)
    yield Buffer.alloc(${CHUNK}, 97)
  }
}
export async function post_sink(ctx, [mimetype, body]) {
  let bytes = 0
  for await (const chunk of body) {
    bytes += chunk.length
    await sleep(chunk.length / 10_000) // about 0.1 s per MiB
  }
  return {bytes}
}
`

interface Run {
  code: number
  stdout: string
  stderr: string
}

function piped(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], {encoding: 'utf8', timeout: 90_000}, (error, stdout, stderr) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stderr, stdout})
    })
    child.stdin?.end()
  })
}

/** stdout and stderr share the terminal: `output` is both. */
function onTerminal(args: string[]): Promise<{code: number; output: string}> {
  const driver = join(root, 'test', 'fixtures', 'tty-driver.py')
  const env: NodeJS.ProcessEnv = {...process.env, TERM: 'xterm'}
  delete env.NO_COLOR
  delete env.FORCE_COLOR
  return new Promise((resolve) => {
    execFile(tool('python3'), [driver, '[]', '--', process.execPath, bin, ...args], {env, timeout: 90_000}, (error, stdout) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, output: stdout})
    })
  })
}

describe('pipe call output: trailing newline and progress (real processes)', {skip: skipWithout('openssl', 'python3'), timeout: 120_000}, () => {
  const dir = useTempDir('restwire-pipe-output-')
  let hub: PipeProcess
  let node: PipeProcess
  let hubHttp: string
  let bigFile: string

  before(async () => {
    const pki = await makePipePki(dir())
    const files = join(dir(), 'files')
    await mkdir(files)
    await writeFile(join(files, 'note.txt'), 'no newline at the end')
    bigFile = join(dir(), 'big.bin')
    await writeFile(bigFile, Buffer.alloc(UPLOAD_BYTES, 98))
    const handlers = join(dir(), 'handlers.mjs')
    await writeFile(handlers, HANDLERS)
    hub = await startPipeProcess(['serve', '--ca', pki.dir, '--listen', '0', '--http', '127.0.0.1:0', '--heartbeat', '500ms'], /"event":"listening"/)
    const listening = await hub.waitForLog(/"event":"listening"/)
    hubHttp = listening.http as string
    node = await startPipeProcess(
      ['connect', '--to', `127.0.0.1:${listening.port as number}`, '--hub-name', 'hub', '--ca', pki.dir, '--name', 'node-a', '--serve-dir', files, '--handlers', handlers, '--http', '127.0.0.1:0', '--heartbeat', '500ms'],
      /"event":"started"/,
    )
    await node.waitForLog(/"event":"connected"/)
    await hub.waitForLog(/"event":"node connected"/)
  })

  after(async () => {
    await node?.stop('SIGKILL')
    await hub?.stop('SIGKILL')
  })

  const call = (...args: string[]): string[] => ['pipe', 'call', ...args, '--to', hubHttp]

  it('a body without a final newline: one is added on a terminal; piped, the bytes are exact', async () => {
    const tty = await onTerminal(call('GET', '/client/node-a/file//note.txt'))
    assert.equal(tty.code, 0, tty.output)
    assert.ok(tty.output.endsWith('no newline at the end\r\n'), JSON.stringify(tty.output))
    const plain = await piped(call('GET', '/client/node-a/file//note.txt'))
    assert.equal(plain.code, 0, plain.stderr)
    assert.equal(plain.stdout, 'no newline at the end')
  })

  it('--output FILE: a progress line (bytes, rate) on a terminal, erased at the end; none when stderr is piped', async () => {
    const target = join(dir(), 'slow-tty.bin')
    const tty = await onTerminal(call('GET', '/client/node-a/slow', '--output', target))
    assert.equal(tty.code, 0, tty.output)
    assert.equal((await stat(target)).size, SLOW_CHUNKS * CHUNK)
    // eslint-disable-next-line no-control-regex
    const plain = tty.output.replaceAll(/\u001B\[[\d;]*[mK]/g, '')
    assert.match(plain, /\r↓ slow-tty\.bin \d+(\.\d)? (KiB|MiB) \d+(\.\d)? (B|KiB|MiB|GiB)\/s/)
    assert.ok(tty.output.endsWith('\r\u001B[K'), JSON.stringify(tty.output.slice(-40)))
    const quiet = await piped(call('GET', '/client/node-a/slow', '--output', join(dir(), 'slow-piped.bin')))
    assert.equal(quiet.code, 0, quiet.stderr)
    assert.equal(quiet.stderr, '')
    assert.equal((await stat(join(dir(), 'slow-piped.bin'))).size, SLOW_CHUNKS * CHUNK)
  })

  it('--data @FILE: a progress line with the size, a bar and an ETA on a terminal; none when piped', async () => {
    const tty = await onTerminal(call('POST', '/client/node-a/sink', '--data', `@${bigFile}`))
    assert.equal(tty.code, 0, tty.output)
    // eslint-disable-next-line no-control-regex
    const plain = tty.output.replaceAll(/\u001B\[[\d;]*[mK]/g, '')
    assert.match(plain, /\r↑ big\.bin \[=* *\] [\d.]+ (KiB|MiB) \/ 16 MiB +\d+% [\d.]+ (B|KiB|MiB|GiB)\/s ETA \d+s/)
    assert.match(plain, /"bytes": 16777216/)
    const quiet = await piped(call('POST', '/client/node-a/sink', '--data', `@${bigFile}`))
    assert.equal(quiet.code, 0, quiet.stderr)
    assert.equal(quiet.stderr, '')
    assert.deepEqual(JSON.parse(quiet.stdout), {bytes: UPLOAD_BYTES})
  })
})
