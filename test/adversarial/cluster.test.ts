// The cluster under attack from inside NATS: a hostile member (a raw NATS client, test/helpers/nats-raw.ts)
// on the cluster's own subjects, against two real `pipe serve --cluster` processes. Each attack runs with
// a healthy caller beside it (an HTTP call through hub-a's gateway to a node on hub-b, across NATS) that
// must see every call answered, both hubs' memory bounded, and the refusals in the hubs' logs. NATS is the
// trust boundary (docs/cluster.md): a member may disturb routing it is allowed to publish on, but a
// malformed message must never crash a hub, break its NATS connection, or grow its memory without bound.
import assert from 'node:assert/strict'
import {setTimeout as sleep} from 'node:timers/promises'
import {after, before, describe, it} from 'node:test'
import {type PipeNodeHandle} from '../../src/core/pipe/node.js'
import {encodeBatch, encodeCredit, encodeData, encodeOpen} from '../../src/core/cluster/wire.js'
import {GROWTH_LIMIT_BYTES, type HealthyReport, MIB, deepJsonText, healthyClient, watchRss} from '../helpers/hostile.js'
import {type RawNats, connectRawNats} from '../helpers/nats-raw.js'
import {type NatsServer, startNatsServer} from '../helpers/nats-server.js'
import {type PipeProcess, startPipeProcess} from '../helpers/pipe-cli.js'
import {until} from '../helpers/pipe-cluster-fixture.js'
import {startTestNode} from '../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../helpers/pipe-pki.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout} from '../helpers/tools.js'

const PREFIX = 'restwire.pipe.adv'
const nodeSubject = (name: string): string => `${PREFIX}.node.${Buffer.from(name).toString('base64url')}`

/** The hub logged a line matching `pattern` (from line `from` on) within 10 s; else fails showing its log. */
async function logged(process: PipeProcess, pattern: RegExp, from: number): Promise<void> {
  const timeout = sleep(10_000).then(() => {
    throw new Error(`no log line matching ${pattern}:\n${process.stderr.slice(from).join('\n')}`)
  })
  await Promise.race([process.waitForLine(pattern, from), timeout])
}

/** `valid`'s entries repeated past the batch bound (64 KiB), the count matching: only the size is wrong. */
function encodeOversized(valid: Buffer): Buffer {
  const entries = valid.subarray(3)
  const copies = Math.ceil((64 * 1024) / entries.length) + 1
  const out = Buffer.concat([Buffer.from([7, 0, 0]), ...Array.from({length: copies}, () => entries)])
  out.writeUInt16BE(copies * 2, 1)
  return out
}

function assertHealthy(report: HealthyReport, what: string): void {
  assert.deepEqual(report.failed, [], `${what}: the healthy caller saw failures`)
  assert.ok(report.answered > 0, `${what}: the healthy caller got no answer`)
  // A liveness bound (5 s, healthyClient's default), not a speed figure.
  assert.equal(report.late, 0, `${what}: ${report.late} answers took longer than 5 s (slowest ${Math.round(report.slowestMs)} ms)`)
}

describe('cluster: a hostile NATS member against real pipe hubs', {skip: skipWithout('nats-server', 'openssl'), timeout: 240_000}, () => {
  const dir = useTempDir('restwire-cluster-adversarial-')
  let pki: PipePki
  let nats: NatsServer
  const hubs = new Map<string, {process: PipeProcess; port: number; http: string; id?: string}>()
  let node: PipeNodeHandle
  let hostile: RawNats
  let replies = 0

  before(async () => {
    pki = await makePipePki(dir())
    nats = await startNatsServer()
    for (const name of ['hub-a', 'hub-b']) {
      const process = await startPipeProcess(
        ['serve', '--ca', pki.dir, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cluster', nats.url, '--cluster-name', 'adv', '--cluster-hub', name, '--timeout', '20s'],
        /"event":"listening"/,
      )
      const listening = await process.waitForLog(/"event":"listening"/)
      hubs.set(name, {http: listening.http as string, port: listening.port as number, process})
    }

    ;({node} = await startTestNode(pki, hubs.get('hub-b')!.port, {heartbeatMs: 5000}))
    await node.connected()
    await until('hub-a to see node-a', async () => {
      const answer = (await (await fetch(`${hubs.get('hub-a')!.http}/nodes`)).json()) as {nodes: Array<{name: string}>}
      return answer.nodes.some((entry) => entry.name === 'node-a')
    })
    hostile = await connectRawNats(nats.port)
    // The hubs' ids, from their heartbeats (any member can read them).
    hostile.sub(`${PREFIX}.beat`, (msg) => {
      const {hub, name} = JSON.parse(msg.data.toString()) as {hub: string; name: string}
      const entry = hubs.get(name)
      if (entry) entry.id = hub
    })
    hostile.sub('_INBOX.hostile.>', () => replies++)
    await until('both hub ids', () => [...hubs.values()].every((entry) => entry.id !== undefined))
  })
  after(async () => {
    hostile?.close()
    await node?.close()
    await Promise.all([...hubs.values()].map(({process}) => process.stop()))
    await nats?.stop()
  })

  const hub = (name: string): {process: PipeProcess; port: number; http: string; id?: string} => hubs.get(name)!

  /** An attack with the healthy caller beside it and both hubs' memory watched. */
  async function underAttack(what: string, attack: () => Promise<void>): Promise<void> {
    const rss = ['hub-a', 'hub-b'].map((name) => watchRss(hub(name).process.child.pid!))
    const side = healthyClient(async () => {
      const response = await fetch(`${hub('hub-a').http}/client/node-a/whoami`)
      assert.equal(response.status, 200, await response.clone().text())
      assert.deepEqual(await response.json(), {peer: 'hub'})
    })
    await attack()
    await hostile.flush()
    await sleep(300)
    assertHealthy(await side.stop(), what)
    for (const [index, watch] of rss.entries()) {
      const {baseline, peak} = watch.stop()
      assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `${what}: hub ${index} grew by ${((peak - baseline) / MIB).toFixed(0)} MiB`)
    }

    for (const name of ['hub-a', 'hub-b']) assert.equal(hub(name).process.child.exitCode, null, `${what}: ${name} exited`)
    assert.equal(hostile.closed, false, `${what}: NATS dropped the hostile member (${hostile.errors.join('; ')})`)
  }

  it('malformed opens on a node subject: not an open, truncated, unknown body mode, lengths past the end, no timeout, trailing bytes, 100,000-deep JSON, NATS header garbage, no reply subject', async () => {
    const from = hub('hub-b').process.stderr.length
    await underAttack('malformed opens', async () => {
      const subject = nodeSubject('node-a')
      const good = encodeOpen({args: ['a'], hub: 'x', noun: 'whoami', timeoutMs: 1000, verb: 'GET'}, undefined)
      const patched = (offset: number, bytes: number[]): Buffer => {
        const copy = Buffer.from(good)
        copy.set(bytes, offset)
        return copy
      }
      // At: 0 type, 1 body mode, 2 f64 timeout, 10 [u8 1]["x"], 12 [u8 3]["GET"], 16 [u16 6]["whoami"], 24 [u16 1], 26 [u32 1]["a"], 31 [u16 0xffff]
      const cases: Array<{data: string | Buffer; headers?: string; reply?: string}> = [
        {data: 'not an open', reply: '_INBOX.hostile.1'},
        {data: 'x', headers: 'NATS/1.0\r\nno colon here\r\n\r\n', reply: '_INBOX.hostile.2'},
        {data: 'x', headers: 'garbage\u0000\u00ff\r\n\r\n', reply: '_INBOX.hostile.3'},
        {data: Buffer.from([1]), reply: '_INBOX.hostile.4'},
        {data: deepJsonText(100_000), reply: '_INBOX.hostile.5'},
        {data: patched(1, [9]), reply: '_INBOX.hostile.6'},
        {data: patched(26, [0xff, 0xff, 0xff, 0xff]), reply: '_INBOX.hostile.7'},
        {data: patched(2, [0, 0, 0, 0, 0, 0, 0, 0]), reply: '_INBOX.hostile.8'},
        {data: Buffer.concat([good, Buffer.from('trailing')]), reply: '_INBOX.hostile.9'},
        {data: good.subarray(0, good.length - 3), reply: '_INBOX.hostile.10'},
        {data: good},
      ]
      for (let round = 0; round < 50; round++) for (const entry of cases) hostile.pub(subject, entry.data, {headers: entry.headers, reply: entry.reply})
    })
    await logged(hub('hub-b').process, /(?=.*cluster message refused)(?=.*malformed open)/, from)
  })

  it('malformed and stray call messages to a hub inbox: unknown calls, wrong chunk sequence, absurd credit, truncated acks and credits, non-JSON errors, unknown types', async () => {
    const from = hub('hub-a').process.stderr.length
    await underAttack('stray call messages', async () => {
      for (const name of ['hub-a', 'hub-b']) {
        // Ids of no call ('-' is never in one): a member that writes into a live call's inbox can fail
        // that call (NATS is the trust boundary), which is not what this checks.
        const inbox = `_INBOX.${hub(name).id}.x-`
        for (let i = 0; i < 500; i++) {
          hostile.pub(`${inbox}${i.toString(36)}`, encodeData(7, Buffer.from('x'), true))
          hostile.pub(`${inbox}${i.toString(36)}`, encodeCredit(0xff_ff_ff_ff))
          hostile.pub(`${inbox}zz${i}`, Buffer.from([4, 1]))
          hostile.pub(`${inbox}${i.toString(36)}`, Buffer.from([2, 200, 1]))
          hostile.pub(`${inbox}${i.toString(36)}`, Buffer.concat([Buffer.from([5]), Buffer.from(deepJsonText(10_000, 'object'))]))
          hostile.pub(`${inbox}${i.toString(36)}`, 'x', {headers: 'NATS/1.0 503\r\n\r\n'})
          hostile.pub(`${inbox}${i.toString(36)}`, encodeData(0, Buffer.from('x'), false, undefined, {call: 'restwire.pipe.adv.beat', hub: 'x'}))
          hostile.pub(`${inbox}${i.toString(36)}`, Buffer.from([99, 1, 2, 3]))
        }
      }
    })
    await logged(hub('hub-a').process, /cluster message refused/, from)
  })

  it('batches from a hostile member: cut short, a count that lies (high, low), bytes after the last entry, an empty message or address, a length past the end, oversized: dropped whole with a log; a valid batch is served', async () => {
    const fromA = hub('hub-a').process.stderr.length
    const fromB = hub('hub-b').process.stderr.length
    const repliesBefore = replies
    await underAttack('malformed batches', async () => {
      const open = encodeOpen({args: [], hub: 'x', noun: 'whoami', timeoutMs: 1000, verb: 'GET'}, undefined)
      const data = encodeData(0, Buffer.from('x'), true)
      // At: 0 type, 1 u16 count, 3 the first entry: [u8 n][address][u32 n][message]
      const malformed = (valid: Buffer): Buffer[] => {
        const patched = (offset: number, bytes: number[]): Buffer => {
          const copy = Buffer.from(valid)
          copy.set(bytes, offset)
          return copy
        }
        const firstAddress = valid[3]!
        return [
          valid.subarray(0, valid.length - 3),
          patched(1, [0, 3]),
          patched(1, [0xff, 0xff]),
          patched(1, [0, 1]),
          patched(1, [0, 0]),
          Buffer.concat([valid, Buffer.from('trailing')]),
          patched(3 + 1 + firstAddress, [0, 0, 0, 0]),
          patched(3 + 1 + firstAddress, [0xff, 0xff, 0xff, 0xff]),
          patched(3, [0]),
          Buffer.from([7]),
          // Well formed, but over the bound (64 KiB): refused unread.
          encodeOversized(valid),
        ]
      }
      const opens = encodeBatch([{address: '_INBOX.hostile.v1', payload: open}, {address: '_INBOX.hostile.v2', payload: open}])
      for (let round = 0; round < 20; round++) {
        for (const bad of malformed(opens)) hostile.pub(nodeSubject('node-a'), bad, {reply: '_INBOX.hostile.batch'})
        // A valid batch of two opens: hub-b serves both, its replies come back to the hostile member.
        hostile.pub(nodeSubject('node-a'), opens, {reply: '_INBOX.hostile.batch'})
        for (const name of ['hub-a', 'hub-b']) {
          // Ids of no call ('-' is never in one): stray messages, answered by nothing worse than a cancel.
          const strays = encodeBatch([{address: 'x-1', payload: data}, {address: 'x-2', payload: encodeCredit(1)}])
          for (const bad of [...malformed(strays), strays]) hostile.pub(`_INBOX.${hub(name).id}._b`, bad)
        }
      }
    })
    await logged(hub('hub-b').process, /(?=.*cluster message refused)(?=.*batch)/, fromB)
    await logged(hub('hub-a').process, /(?=.*cluster message refused)(?=.*batch)/, fromA)
    await until('the valid batches answered', () => replies > repliesBefore)
  })

  it('forged presence: malformed announcements and lists of known nodes, absurd heartbeats, future-dated claims on a real node, a flood of fake hubs', async () => {
    const from = hub('hub-a').process.stderr.length
    await underAttack('forged presence', async () => {
      const fake = 'f00dfeedbeef'
      hostile.pub(`${PREFIX}.beat`, JSON.stringify({hub: fake, name: 'fake-hub'}))
      hostile.pub(`${PREFIX}.beat`, JSON.stringify({hub: 12, name: {}}))
      hostile.pub(`${PREFIX}.beat`, JSON.stringify({hub: 'x'.repeat(500_000), name: 'long'}))
      hostile.pub(`${PREFIX}.beat`, deepJsonText(100_000))
      hostile.pub(`${PREFIX}.up`, JSON.stringify({hub: fake, name: 'fake-hub', nodes: 'not a list'}))
      hostile.pub(`${PREFIX}.up`, JSON.stringify({hub: fake, name: 'fake-hub', nodes: [null, 1, {node: 5}, {address: 'x', at: 'soon', node: 'n'}]}))
      // Claims node-a from a connection dated far in the future: would close the real node-a if trusted.
      hostile.pub(`${PREFIX}.up`, JSON.stringify({hub: fake, name: 'fake-hub', nodes: [{address: '1.2.3.4:5', at: 8.64e15, node: 'node-a'}]}))
      hostile.pub(`${PREFIX}.up`, JSON.stringify({hub: fake, name: 'fake-hub', nodes: [{address: '1.2.3.4:5', at: Number.MAX_VALUE, node: 'node-a'}]}))
      hostile.pub(`${PREFIX}.down`, JSON.stringify({hub: fake, node: 'node-a'}))
      hostile.pub(`${PREFIX}.sync`, JSON.stringify({hub: fake, to: {}}))
      // Lists of known nodes: not a list, over the batch of 500, names that are not names, 100,000-deep.
      hostile.pub(`${PREFIX}.seen`, JSON.stringify({hub: fake, name: 'fake-hub', nodes: 'node-a'}))
      hostile.pub(`${PREFIX}.seen`, JSON.stringify({hub: fake, name: 'fake-hub', nodes: Array.from({length: 501}, (_, i) => `n${i}`)}))
      hostile.pub(`${PREFIX}.seen`, JSON.stringify({hub: fake, name: 'fake-hub', nodes: [null, 5, {}, '', 'x'.repeat(5000), 'node-a']}))
      hostile.pub(`${PREFIX}.seen`, deepJsonText(100_000))
      // Fake hubs by the thousand, each beating once (they expire after 3 s of silence).
      for (let i = 0; i < 3000; i++) hostile.pub(`${PREFIX}.beat`, JSON.stringify({hub: `fake${i}`, name: `fake-${i}`}))
      // Fake nodes by the thousand from one fake hub.
      const nodes = Array.from({length: 500}, (_, i) => ({address: '1.2.3.4:5', at: Date.now(), node: `ghost-${i}`}))
      for (let i = 0; i < 20; i++) hostile.pub(`${PREFIX}.up`, JSON.stringify({hub: fake, name: 'fake-hub', nodes}))
      await sleep(1500)
    })
    await logged(hub('hub-a').process, /cluster message refused/, from)
    // The list over the batch bound was refused whole: none of its names is known (404, not 503).
    const unknown = await fetch(`${hub('hub-a').http}/client/n5/whoami`)
    assert.equal(unknown.status, 404, await unknown.text())
    // The real node-a was not closed by the forged claims: still on hub-b, still reachable.
    const listing = (await (await fetch(`${hub('hub-a').http}/nodes`)).json()) as {nodes: Array<{name: string; hub: string}>}
    assert.deepEqual(listing.nodes.filter((entry) => entry.name === 'node-a').map((entry) => entry.hub), ['hub-b'])
    assert.ok(!hub('hub-b').process.stderr.slice(from).some((line) => /replaced by a newer connection/.test(line)), 'node-a was replaced by a forged claim')
  })

  it('a flood of sync requests: a hub answers a few per second, not one per message', async () => {
    // Node-a's claims that hub-b sends: one per answer.
    let claims = 0
    hostile.sub(`${PREFIX}.up`, (msg) => {
      const up = JSON.parse(msg.data.toString()) as {hub: string; nodes: unknown[]}
      if (up.hub === hub('hub-b').id) claims += up.nodes.length
    })
    await hostile.flush()
    await underAttack('sync flood', async () => {
      // Each answer is node-a's claim on .up, to every hub: 5000 requests would be 5000 claims.
      for (let i = 0; i < 5000; i++) {
        hostile.pub(`${PREFIX}.sync`, JSON.stringify({hub: `f00d${i}`}))
        if (i % 1000 === 999) await hostile.flush()
      }
    })
    // Counted, not timed: the syncs of one 250 ms period share one answer, and the flood lasts well under 25 s.
    await until('hub-b to answer the flood', () => claims > 0)
    assert.ok(claims < 100, `hub-b answered ${claims} times`)
  })

  it('a flood of opens toward one hub, each a real event for its node: answered or refused, memory bounded', async () => {
    const before = replies
    const from = hub('hub-b').process.stderr.length
    // Beside the flood, the healthy caller may be refused with 503 while the holding hub is at its bound
    // of calls served for other hubs (the flood claims to come from hub-a, as the healthy calls do): a
    // refusal, never a hang or another failure, and served again as soon as the flood is over.
    const side = healthyClient(async () => {
      const response = await fetch(`${hub('hub-a').http}/client/node-a/whoami`)
      const text = await response.text()
      if (response.status === 503 && /overloaded/.test(text)) return
      assert.equal(response.status, 200, text)
    })
    const rss = watchRss(hub('hub-b').process.child.pid!)
    const subject = nodeSubject('node-a')
    const open = encodeOpen({args: [], hub: hub('hub-a').id!, noun: 'whoami', timeoutMs: 10_000, verb: 'GET'}, undefined)
    for (let i = 0; i < 20_000; i++) {
      hostile.pub(subject, open, {reply: `_INBOX.hostile.flood.${i}`})
      if (i % 1000 === 999) await hostile.flush()
    }

    // The holding hub answered the flood (replies or refusals), it did not drop it silently.
    await until('answers to the flood', () => replies - before > 1000, 30_000)
    assertHealthy(await side.stop(), 'open flood')
    const {baseline, peak} = rss.stop()
    assert.ok(peak - baseline < GROWTH_LIMIT_BYTES, `open flood: hub-b grew by ${((peak - baseline) / MIB).toFixed(0)} MiB`)
    // Once the node has worked through the flood's queued events, the bound is free again.
    await until('the healthy caller served again', async () => {
      const response = await fetch(`${hub('hub-a').http}/client/node-a/whoami`)
      await response.arrayBuffer()
      return response.status === 200
    }, 60_000)
    const refusals = hub('hub-b').process.stderr.slice(from).filter((line) => /calls from other hubs at once/.test(line)).length
    console.log(`# open flood: ${replies - before} answers to the hostile member, ${refusals} log lines about the bound`)
  })

  it('an opener that never reads: big replies held to the credit window, memory bounded, others served', async () => {
    const slow = await connectRawNats(nats.port)
    try {
      slow.sub('_INBOX.slow.>')
      await slow.flush()
      slow.stopReading()
      await underAttack('never-reading opener', async () => {
        const subject = nodeSubject('node-a')
        const open = encodeOpen({args: ['64'], hub: hub('hub-a').id!, noun: 'big', timeoutMs: 10_000, verb: 'GET'}, undefined)
        // 10 calls of 64 MiB each, no credit ever: without flow control hub-b would hold 640 MiB. (Past
        // 16 such calls to one node, the pipe's own per-link budget (16 windows of 4 MiB, unread) stops
        // the node's link, on one hub as across hubs: docs/cluster.md.)
        for (let i = 0; i < 10; i++) hostile.pub(subject, open, {reply: `_INBOX.slow.${i}`})
        await sleep(3000)
      })
    } finally {
      slow.close()
    }
  })
})
