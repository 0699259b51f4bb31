// A large body both ways through real `pipe serve` and `pipe connect` processes and their gateways,
// with curl at each end streaming from and to files (-o, -T), and the peak memory of both processes: 1 GiB each
// way (about 10-30 s on a small machine); PIPE_BIG_TRANSFER=0 moves 64 MiB instead, for quick local runs.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdir, open, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type PipeProcess, startPipeProcess} from '../helpers/pipe-cli.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

const SIZE_BYTES = process.env.PIPE_BIG_TRANSFER === '0' ? 64 * 2 ** 20 : 2 ** 30
const MIB = 2 ** 20
const MAX_GROWTH_BYTES = 128 * MIB

/** VmRSS and VmHWM (peak) of a process, in bytes, from /proc. */
async function memory(pid: number): Promise<{rss: number; peak: number}> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024
  return {peak: kib('VmHWM'), rss: kib('VmRSS')}
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool('curl'), ['-sS', '--max-time', '300', ...args], {encoding: 'utf8'}, (error, stdout, stderr) => (error ? reject(new Error(stderr || error.message)) : resolve(stdout)))
  })
}

describe(`pipe: a ${SIZE_BYTES / MIB} MiB body through real processes, with flat memory`, {skip: skipWithout('openssl', 'curl'), timeout: 300_000}, () => {
  const dir = useTempDir('restwire-pipe-bulk-')
  let hub: PipeProcess
  let node: PipeProcess
  let hubHttp: string
  let nodeHttp: string

  before(async () => {
    const pki = await makePipePki(dir())
    const files = join(dir(), 'files')
    await mkdir(files)
    // A sparse file: SIZE_BYTES long, nothing on disk, read back as zeros.
    const handle = await open(join(files, 'big.bin'), 'w')
    await handle.truncate(SIZE_BYTES)
    await handle.close()
    const handlers = join(dir(), 'count.mjs')
    await writeFile(handlers, 'export async function post_count(ctx, [type, body]) { let bytes = 0; for await (const chunk of body) bytes += chunk.length; return {bytes, type} }\n')
    hub = await startPipeProcess(['serve', '--ca', pki.dir, '--listen', '0', '--http', '127.0.0.1:0', '--handlers', handlers], /"event":"listening"/)
    const listening = await hub.waitForLog(/"event":"listening"/)
    hubHttp = listening.http as string
    node = await startPipeProcess(['connect', '--to', `127.0.0.1:${listening.port as number}`, '--hub-name', 'hub', '--ca', pki.dir, '--name', 'node-a', '--serve-dir', files, '--http', '127.0.0.1:0'], /"event":"started"/)
    nodeHttp = (await node.waitForLog(/"event":"started"/)).http as string
    await hub.waitForLog(/"event":"node connected"/)
  })
  after(async () => {
    await node?.stop()
    await hub?.stop()
  })

  it('downloads the file from the node through the hub gateway, and uploads it from the node to a hub handler', async (t) => {
    const before = {hub: await memory(hub.child.pid!), node: await memory(node.child.pid!)}
    const output = join(dir(), 'copy.bin')
    const downloaded = await curl(['-o', output, '-w', '%{http_code} %{size_download}', `${hubHttp}/client/node-a/file//big.bin`])
    assert.equal(downloaded, `200 ${SIZE_BYTES}`)
    const uploaded = await curl(['-H', 'content-type: application/octet-stream', '-H', 'expect:', '-X', 'POST', '-T', output, `${nodeHttp}/server/count`])
    assert.deepEqual(JSON.parse(uploaded), {bytes: SIZE_BYTES, type: 'application/octet-stream'})
    const afterwards = {hub: await memory(hub.child.pid!), node: await memory(node.child.pid!)}
    const growth = {hub: afterwards.hub.peak - before.hub.rss, node: afterwards.node.peak - before.node.rss}
    t.diagnostic(`peak RSS: hub ${(afterwards.hub.peak / MIB).toFixed(0)} MiB (+${(growth.hub / MIB).toFixed(0)}), node ${(afterwards.node.peak / MIB).toFixed(0)} MiB (+${(growth.node / MIB).toFixed(0)}) for ${SIZE_BYTES / MIB} MiB each way`)
    // Flat memory: the growth is the same for 64 MiB and 1 GiB (buffers in flight, garbage not yet
    // collected), far below the 1 GiB body; the 64 MiB run checks the same bound.
    for (const side of ['hub', 'node'] as const) assert.ok(growth[side] < MAX_GROWTH_BYTES, `${side} grew by ${(growth[side] / MIB).toFixed(0)} MiB`)
  })
})
