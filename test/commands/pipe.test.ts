import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {restwire, root} from '../helpers/cli.js'
import {type PipeProcess, startPipeProcess} from '../helpers/pipe-cli.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

function curl(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool('curl'), ['-sf', '--max-time', '20', url], {encoding: 'utf8'}, (error, stdout) => (error ? reject(error) : resolve(stdout)))
  })
}

describe('pipe serve, pipe connect and pipe call (real processes)', {skip: skipWithout('openssl'), timeout: 120_000}, () => {
  const dir = useTempDir('restwire-pipe-cli-')
  let pkiDir: string
  let files: string
  let handlersFile: string
  let hub: PipeProcess
  let node: PipeProcess
  let hubPort: number
  let hubHttp: string
  let nodeHttp: string

  const startHub = async (port: number): Promise<PipeProcess> => {
    const started = await startPipeProcess(['serve', '--ca', pkiDir, '--listen', String(port), '--http', '127.0.0.1:0', '--heartbeat', '500ms', '--handlers', handlersFile], /"event":"listening"/)
    const listening = await started.waitForLog(/"event":"listening"/)
    hubPort = listening.port as number
    hubHttp = listening.http as string
    return started
  }

  before(async () => {
    const pki = await makePipePki(dir())
    pkiDir = pki.dir
    files = join(dir(), 'files')
    await mkdir(join(files, 'reports'), {recursive: true})
    await writeFile(join(files, 'reports', 'q3.pdf'), 'the q3 report')
    handlersFile = join(dir(), 'hub-handlers.mjs')
    await writeFile(handlersFile, 'export async function post_echo(ctx) { return {echoed: JSON.parse((await ctx.read(65536)).toString())} }\n')
    hub = await startHub(0)
    node = await startPipeProcess(
      ['connect', '--to', `127.0.0.1:${hubPort}`, '--hub-name', 'hub', '--ca', pkiDir, '--name', 'node-a', '--serve-dir', files, '--http', '127.0.0.1:0', '--heartbeat', '500ms', '--max-backoff', '1s'],
      /"event":"started"/,
    )
    nodeHttp = (await node.waitForLog(/"event":"started"/)).http as string
    await node.waitForLog(/"event":"connected"/)
    await hub.waitForLog(/"event":"node connected"/)
  })
  after(async () => {
    await node?.stop('SIGKILL')
    await hub?.stop('SIGKILL')
  })

  it('fetches a file from the node through the hub gateway with curl', {skip: skipWithout('curl')}, async () => {
    assert.equal(await curl(`${hubHttp}/client/node-a/file//reports/q3.pdf`), 'the q3 report')
    const nodes = JSON.parse(await curl(`${hubHttp}/nodes`)) as Array<{name: string; inFlight: number}>
    assert.deepEqual(nodes.map(({inFlight, name}) => ({inFlight, name})), [{inFlight: 0, name: 'node-a'}])
  })

  it('pipe call: body to stdout or a file, and exit codes 0, 8 (255, 404), 9 (251), 3 (no gateway)', async () => {
    const ok = await restwire(['pipe', 'call', 'GET', '/server/cat//a/b', '--to', nodeHttp], {})
    assert.equal(ok.code, 0)
    assert.deepEqual(JSON.parse(ok.stdout), {result_from_server: 'ab'})
    const output = join(dir(), 'q3-copy.pdf')
    const saved = await restwire(['pipe', 'call', 'GET', '/client/node-a/file//reports/q3.pdf', '--to', hubHttp, '--output', output], {})
    assert.equal(saved.code, 0)
    assert.equal(await readFile(output, 'utf8'), 'the q3 report')
    const missing = await restwire(['pipe', 'call', 'GET', '/client/node-a/no-such', '--to', hubHttp], {})
    assert.equal(missing.code, 8)
    assert.match(missing.stderr, /event return code 255/)
    const unknown = await restwire(['pipe', 'call', 'GET', '/client/nobody/time', '--to', hubHttp, '--json'], {})
    assert.equal(unknown.code, 8)
    assert.equal((JSON.parse(unknown.stdout) as {status: number}).status, 404)
    const raised = await restwire(['pipe', 'call', 'GET', '/client/node-a/cat//only-one', '--to', hubHttp], {})
    assert.equal(raised.code, 9)
    assert.match(raised.stdout, /cat takes two arguments/)
    const posted = await restwire(['pipe', 'call', 'POST', '/server/cat//x/y', '--to', nodeHttp, '--data', '{"a":1}', '--json'], {})
    // The built-in cat answers GET only: POST is 255, which --json reports next to the HTTP status.
    assert.equal(posted.code, 8)
    const envelope = JSON.parse(posted.stdout) as {headers: Record<string, string>}
    assert.equal(envelope.headers['content-type'], 'application/json')
    assert.deepEqual({...envelope, headers: undefined, target: undefined, timing: undefined}, {
      body: {error: 'no handler for POST cat (post_cat)'},
      bodyEncoding: 'json',
      headers: undefined,
      ok: false,
      pipe: {code: 255},
      protocol: 'pipe',
      status: 200,
      target: undefined,
      timing: undefined,
    })
    const nowhere = await restwire(['pipe', 'call', 'GET', '/server/time', '--to', 'http://127.0.0.1:1'], {})
    assert.equal(nowhere.code, 3)
    assert.match(nowhere.stderr, /cannot reach the pipe gateway/)
    const usage = await restwire(['pipe', 'call', 'GET', 'no-slash'], {})
    assert.equal(usage.code, 2)
  })

  it('pipe call on a terminal prompts for verb, path and body; without one, a missing PATH is a usage error', {skip: skipWithout('python3')}, async () => {
    const steps = [
      ['Verb', '\u001B[B\r'],
      ['Path', '/server/echo\r'],
      ['JSON body', '{"typed":true}\r'],
    ]
    const driver = join(root, 'test', 'fixtures', 'tty-driver.py')
    const output = await new Promise<string>((resolve, reject) => {
      execFile(tool('python3'), [driver, JSON.stringify(steps), '--', process.execPath, join(root, 'bin', 'run.js'), 'pipe', 'call', '--to', nodeHttp], {timeout: 90_000}, (error, stdout) =>
        error ? reject(new Error(`${error.message}\n${stdout}`)) : resolve(stdout),
      )
    })
    // Exit 0 (else execFile fails): event code 0; the reply printed as JSON (colours and line breaks removed).
    // eslint-disable-next-line no-control-regex
    const plain = output.replaceAll(/\u001B\[[0-9;]*m/g, '').replaceAll(/\s+/g, '')
    assert.match(plain, /\{"echoed":\{"typed":true\}\}/)
    const noTerminal = await restwire(['pipe', 'call', 'GET', '--to', hubHttp], {})
    assert.equal(noTerminal.code, 2)
    assert.match(noTerminal.stderr, /stdin is not a terminal/)
  })

  it('hub killed (SIGKILL) and restarted: the node logs it, reconnects, and events flow again', {skip: skipWithout('curl')}, async () => {
    const from = node.stderr.length
    await hub.stop('SIGKILL')
    await node.waitForLog(/"event":"disconnected"/, from)
    await node.waitForLog(/"event":"retrying"/, from)
    hub = await startHub(hubPort)
    await node.waitForLog(/"event":"connected"/, from)
    await hub.waitForLog(/"event":"node connected"/)
    assert.equal(await curl(`${hubHttp}/client/node-a/file//reports/q3.pdf`), 'the q3 report')
    assert.deepEqual(Object.keys(JSON.parse(await curl(`${nodeHttp}/server/time`)) as object), ['time_from_server'])
  })

  it('stops on SIGTERM with exit 0, and the hub logs the node leaving', async () => {
    const from = hub.stderr.length
    assert.equal(await node.stop('SIGTERM'), 0)
    const gone = await hub.waitForLog(/"event":"node disconnected"/, from)
    assert.match(String(gone.reason), /the node is shutting down/)
    assert.equal(await hub.stop('SIGTERM'), 0)
  })

  it('names the missing identity file, and shows examples in --help', async () => {
    const missing = await restwire(['pipe', 'serve', '--ca', join(dir(), 'nowhere'), '--listen', '0', '--http', '127.0.0.1:0'], {})
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /cannot read the (CA certificate|certificate|private key) .*nowhere\/(ca|hub|hub-key)\.pem: no such file/)
    const noName = await restwire(['pipe', 'connect', '--to', '127.0.0.1:1', '--ca', pkiDir, '--http', '127.0.0.1:0'], {})
    assert.equal(noName.code, 2)
    assert.match(noName.stderr, /no certificate: pass --name NAME/)
    assert.doesNotMatch(noName.stderr, /at |Unhandled/)
    const help = await restwire(['pipe', 'connect', '--help'], {})
    assert.equal(help.code, 0)
    assert.match(help.stdout, /--max-backoff/)
    assert.match(help.stdout, /EXAMPLES/)
  })
})
