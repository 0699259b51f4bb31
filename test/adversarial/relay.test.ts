// Every hostile class against a real `restwire relay start` child process: TCP resets, garbage, silence
// (idle timeout), a line trickled byte by byte, an over-limit line, JSON nested 100,000 deep in a
// request and from an upstream, a client that never reads, a flood of connections, a client and an
// upstream killed with SIGKILL, an upstream that never answers. Beside each attack a healthy client on
// its own connection must get every request answered (a liveness bound, not a speed figure); memory is
// checked bounded (RSS of the relay process) for the never-read and flood cases.
import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import type {Socket} from 'node:net'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {parseRelayAddress} from '../../src/core/relay/address.js'
import {GROWTH_LIMIT_BYTES, MIB, type Target, closedWithin, deepJsonText, floodConnections, healthyClient, hostileTcp, openSocket, watchRss} from '../helpers/hostile.js'
import {type RelayProcess, startRelayCli} from '../helpers/relay-cli.js'
import {LineClient, type Upstream, startUpstream} from '../helpers/relay-fixture.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'
import {waitFor} from '../helpers/wait.js'

/** A healthy request slower than this counts as late; the defects this suite guards against cost 14 s and more. */
const LATE_MS = 2500
const IDLE = '1s'
const MAX_CONNECTIONS = 64

/**
 * An HTTP upstream in its own process, that never answers, so it can be killed with SIGKILL mid-request.
 * It prints its port, then a line per request it receives (`requests()` counts them).
 */
async function startDoomedUpstream(): Promise<{child: ChildProcess; port: number; requests(): number}> {
  const code = "require('node:http').createServer(() => console.log('request')).listen(0, '127.0.0.1', function () { console.log(this.address().port) })"
  const child = spawn(process.execPath, ['-e', code], {stdio: ['ignore', 'pipe', 'inherit']})
  const lines = createInterface({input: child.stdout!})
  let requests = 0
  const port = await new Promise<number>((resolve) => lines.once('line', (line) => resolve(Number(line))))
  lines.on('line', () => requests++)
  return {child, port, requests: () => requests}
}

describe('adversarial: relay start', {timeout: 90_000}, () => {
  const dir = useTempDir('restwire-adversarial-relay-')
  let upstream: Upstream
  let doomed: Awaited<ReturnType<typeof startDoomedUpstream>>
  let relay: RelayProcess
  let target: Target

  before(async () => {
    upstream = await startUpstream()
    doomed = await startDoomedUpstream()
    const o = upstream.origin
    const config = join(dir(), 'relay.json')
    writeFileSync(config, JSON.stringify({
      requests: {
        blob: {method: 'GET', url: `${o}/blob/{kib}`},
        deep: {method: 'GET', url: `${o}/deep`},
        doomed: {method: 'GET', timeout: 30, url: `http://127.0.0.1:${doomed.port}/x`},
        echo: {method: 'POST', url: `${o}/echo`},
        hang: {method: 'GET', timeout: '1s', url: `${o}/hang`},
        hang_long: {method: 'GET', timeout: 30, url: `${o}/hang`},
        user: {method: 'GET', url: `${o}/user/{user_id}`},
      },
    }))
    relay = await startRelayCli(['--config', config, '--listen', 'tcp://127.0.0.1:0', '--idle-timeout', IDLE, '--max-connections', String(MAX_CONNECTIONS)])
    target = {port: (parseRelayAddress(relay.address, 'listen') as {port: number}).port}
  })

  after(async () => {
    doomed?.child.kill('SIGKILL')
    await relay?.stop()
    await upstream?.close()
  })

  const connect = (): Promise<LineClient> => LineClient.connect(parseRelayAddress(relay.address, 'listen'))

  /** Runs `attack` with a healthy client beside it on its own connection; every request must be answered in time. */
  async function beside<T>(attack: () => Promise<T>, diagnostic?: (text: string) => void): Promise<T> {
    const client = await connect()
    let n = 0
    const healthy = healthyClient(async () => {
      const id = `h${n++}`
      client.send({id, params: {user_id: id}, request: 'user'})
      const reply = await client.final(id)
      if (reply.status !== 'ok') throw new Error(JSON.stringify(reply))
      // Keep what the client holds small over a long attack.
      client.replies.length = 0
    }, LATE_MS)
    let result: T
    try {
      result = await attack()
    } finally {
      const report = await healthy.stop()
      client.close()
      diagnostic?.(`healthy client: ${report.answered} answered, slowest ${Math.round(report.slowestMs)} ms`)
      assert.deepEqual(report.failed, [], 'every healthy request answered')
      assert.equal(report.late, 0, `no healthy request later than ${LATE_MS} ms (slowest ${Math.round(report.slowestMs)} ms)`)
      assert.ok(report.answered > 0)
    }

    assert.equal(relay.child.exitCode, null, 'the relay is still running')
    return result!
  }

  it('TCP resets and garbage: each dropped, nothing else disturbed', async () => {
    await beside(async () => {
      for (let i = 0; i < 20; i++) {
        await hostileTcp(target, 'reset')
        const garbage = await hostileTcp(target, 'garbage')
        assert.ok(await closedWithin(garbage, 5000))
      }
    })
  })

  it('silence and a line trickled byte by byte: closed by the idle timeout', async () => {
    await beside(async () => {
      const silent = await Promise.all([1, 2, 3].map(() => hostileTcp(target, 'silence')))
      const trickle = await hostileTcp(target, 'trickle', {bytes: Buffer.from(JSON.stringify({id: 1, params: {user_id: 'x'.repeat(400)}, request: 'user'})), intervalMs: 20})
      for (const socket of [...silent, trickle]) assert.ok(await closedWithin(socket, 5000), 'closed within the idle timeout')
    })
  })

  it('an over-limit line (2 MiB): one RW_ERR_FRAME_TOO_LARGE, the next line on the same connection served', async () => {
    await beside(async () => {
      const client = await connect()
      try {
        client.send(`{"request": "echo", "id": 1, "data": "${'x'.repeat(2 * MIB)}"}\n{"request": "user", "id": 2, "params": {"user_id": 2}}\n`)
        assert.equal((await client.final(2)).status, 'ok')
        const [tooLarge] = await client.waitFor((r) => r.status === 'error')
        assert.equal((tooLarge!.response as {code: string}).code, 'RW_ERR_FRAME_TOO_LARGE')
      } finally {
        client.close()
      }
    })
  })

  it('JSON nested 100,000 deep in data, in the id and from the upstream: RW_ERR_JSON for that request alone', async () => {
    await beside(async () => {
      const client = await connect()
      try {
        client.send(`{"request": "echo", "id": "d", "data": ${deepJsonText(100_000, 'object')}}\n`)
        client.send(`{"request": "user", "id": ${deepJsonText(100_000)}, "params": {"user_id": 1}}\n`)
        client.send({id: 'u', request: 'deep'})
        for (const id of ['d', null, 'u']) assert.equal(((await client.final(id)).response as {code: string}).code, 'RW_ERR_JSON')
        client.send({id: 'after', params: {user_id: 1}, request: 'user'})
        assert.equal((await client.final('after')).status, 'ok')
      } finally {
        client.close()
      }
    })
  })

  it('a client that never reads, flooding requests for 64 KiB replies: memory bounded, others answered', async (t) => {
    const rss = watchRss(relay.child.pid!)
    let written = 0
    await beside(async () => {
      const lazy = await openSocket(target)
      lazy.pause()
      const line = Buffer.from(Array.from({length: 100}, (_, i) => JSON.stringify({id: i, params: {kib: 64}, request: 'blob'})).join('\n') + '\n')
      const until = Date.now() + 5000
      while (Date.now() < until) {
        if (lazy.write(line)) written += 100
        else await Promise.race([new Promise((resolve) => lazy.once('drain', resolve)), sleep(200)])
      }

      lazy.destroy()
    }, (text) => t.diagnostic(text))
    const {baseline, peak} = rss.stop()
    t.diagnostic(`${written} request lines sent; RSS ${Math.round(baseline / MIB)} → ${Math.round(peak / MIB)} MiB`)
    assert.ok(written >= 1000, `the flood was sent (${written} request lines)`)
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `RSS grew ${Math.round((peak - baseline) / MIB)} MiB (limit ${GROWTH_LIMIT_BYTES / MIB} MiB)`)
  })

  it(`a flood of 400 connections: at most ${MAX_CONNECTIONS} held, memory bounded, an open client served, new ones once it passes`, async (t) => {
    const rss = watchRss(relay.child.pid!)
    let flood: Socket[] = []
    await beside(async () => {
      flood = await floodConnections(target, 400)
      // The excess is refused at once; the idle timeout closes the rest later (the log below shows refusals).
      await waitFor(() => flood.filter((socket) => !socket.destroyed && !socket.readableEnded).length <= MAX_CONNECTIONS, 5000, 'the excess flood connections to close')
      const open = flood.filter((socket) => !socket.destroyed && !socket.readableEnded)
      assert.ok(open.length <= MAX_CONNECTIONS, `${open.length} flood connections still open`)
      // The silent ones are closed by the idle timeout, freeing their places.
      for (const socket of open) assert.ok(await closedWithin(socket, 5000))
    }, (text) => t.diagnostic(text))
    for (const socket of flood) socket.destroy()
    const refused = await relay.waitForLog(/"event":"connections refused"/)
    assert.ok(Number(refused.refused) >= 1)
    const {baseline, peak} = rss.stop()
    t.diagnostic(`${flood.length} flood connections; RSS ${Math.round(baseline / MIB)} → ${Math.round(peak / MIB)} MiB`)
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `RSS grew ${Math.round((peak - baseline) / MIB)} MiB`)
    const after = await connect()
    after.send({id: 'new', params: {user_id: 1}, request: 'user'})
    assert.equal((await after.final('new')).status, 'ok')
    after.close()
  })

  it('a client killed with SIGKILL mid-request: its upstream request is cancelled', {skip: skipWithout('socat')}, async () => {
    await beside(async () => {
      const abandoned = upstream.abandoned()
      const arrived = upstream.nextHang()
      const socat = spawn(tool('socat'), ['-', `TCP:127.0.0.1:${target.port}`], {stdio: ['pipe', 'ignore', 'ignore']})
      socat.stdin!.on('error', () => {})
      socat.stdin!.write('{"request": "hang_long", "id": 1}\n')
      await arrived
      socat.kill('SIGKILL')
      await waitFor(() => upstream.abandoned() !== abandoned, 5000, 'the upstream request to be abandoned')
      assert.equal(upstream.abandoned(), abandoned + 1)
    })
  })

  it('an upstream that never answers (timeout) and one killed with SIGKILL mid-request: an error reply each', async () => {
    await beside(async () => {
      const client = await connect()
      try {
        client.send({id: 'never', request: 'hang'})
        client.send({id: 'killed', request: 'doomed'})
        await client.waitFor((r) => r.status === 'dispatched', 2)
        await waitFor(() => doomed.requests() > 0, 5000, 'the doomed upstream to receive its request')
        doomed.child.kill('SIGKILL')
        assert.equal(((await client.final('killed')).response as {code: string}).code, 'RW_ERR_RELAY_UPSTREAM')
        assert.equal(((await client.final('never')).response as {code: string}).code, 'RW_ERR_TIMEOUT')
      } finally {
        client.close()
      }
    })
  })

  it('logged no stack trace, no RangeError', () => {
    const log = relay.stderr.join('\n')
    assert.doesNotMatch(log, /RangeError|\n\s+at /)
  })
})
