import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {connect as tlsConnect} from 'node:tls'
import {after, before, describe, it} from 'node:test'
import {readFile} from 'node:fs/promises'
import {isRestwireError} from '../../../src/core/errors.js'
import {FrameDecoder, FrameType, encodeFrame, encodeFrameHeader, encodeJsonFrame, type Frame} from '../../../src/core/pipe/frames.js'
import type {PipeHubEvent, PipeHubHandle} from '../../../src/core/pipe/hub.js'
import {PIPE_PROTOCOL_VERSION, encodeEventMeta} from '../../../src/core/pipe/messages.js'
import {type EventLog, replyJson, startTestHub, startTestNode} from '../../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../../helpers/pipe-pki.js'
import {startCuttableProxy} from '../../helpers/pipe-proxy.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout, tool} from '../../helpers/tools.js'
import {waitFor} from '../../helpers/wait.js'

const T = {timeoutMs: 10_000}

/** Runs `openssl s_client` against the hub (a real TLS peer) and returns everything it printed. */
function sClient(port: number, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile(tool('openssl'), ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'hub', '-ign_eof', ...args], {timeout: 15_000}, (_error, stdout, stderr) =>
      resolve(stdout + stderr),
    )
    child.stdin?.end()
  })
}

/** A raw TLS client with a valid node certificate that writes whatever bytes the test wants. */
async function rawNode(pki: PipePki, port: number, name: string): Promise<{frames: Frame[]; write(bytes: Buffer): void; closed: Promise<void>}> {
  const identity = await pki.identity(name)
  const frames: Frame[] = []
  const decoder = new FrameDecoder({onError() {}, onFrame: (frame) => frames.push(frame)})
  const socket = tlsConnect({ca: identity.ca, cert: identity.cert, host: '127.0.0.1', key: identity.key, port, servername: 'hub'})
  socket.on('data', (chunk: Buffer) => decoder.push(chunk))
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()))
  return {closed: new Promise((resolve) => socket.once('close', () => resolve())), frames, write: (bytes) => socket.write(bytes)}
}

const goawayReason = (frames: Frame[]): string | undefined => {
  const goaway = frames.find((frame) => frame.type === FrameType.GOAWAY)
  return goaway ? (JSON.parse(goaway.payload.toString()) as {reason: string}).reason : undefined
}

describe('pipe: bad peers and faults', {skip: skipWithout('openssl'), timeout: 90_000}, () => {
  const dir = useTempDir('restwire-pipe-faults-')
  let pki: PipePki
  let hub: PipeHubHandle
  let hubLog: EventLog<PipeHubEvent>

  before(async () => {
    pki = await makePipePki(dir())
    ;({hub, log: hubLog} = await startTestHub(pki))
  })
  after(async () => {
    await hub.close()
  })

  const rejection = (from: number): Promise<PipeHubEvent> => hubLog.next((event) => event.type === 'node-rejected', from)

  it('refuses a client without a certificate (openssl s_client), and says why', async () => {
    const from = hubLog.events.length
    const output = await sClient(hub.address.port, ['-CAfile', join(pki.dir, 'ca.pem')])
    const event = await rejection(from)
    assert.equal(event.type === 'node-rejected' && event.reason, 'no client certificate')
    assert.match(output, /refused: no client certificate/)
    assert.deepEqual(hub.nodes(), [])
  })

  it('refuses a certificate from another CA (openssl s_client)', async () => {
    const from = hubLog.events.length
    await sClient(hub.address.port, ['-CAfile', join(pki.dir, 'ca.pem'), '-cert', join(pki.otherDir, 'node-a.pem'), '-key', join(pki.otherDir, 'node-a-key.pem')])
    const event = await rejection(from)
    assert.match(event.type === 'node-rejected' ? event.reason : '', /^certificate not signed by the pipe CA/)
    assert.deepEqual(hub.nodes(), [])
  })

  it('refuses an expired certificate, and the node logs the reason and keeps retrying', async () => {
    const from = hubLog.events.length
    const {log, node} = await startTestNode(pki, hub.address.port, {name: 'expired-node'})
    try {
      const event = await rejection(from)
      assert.match(event.type === 'node-rejected' ? event.reason : '', /^certificate expired/)
      const gone = await log.next((e) => e.type === 'disconnected')
      assert.match(gone.type === 'disconnected' ? gone.reason : '', /refused: certificate expired/)
      await log.next((e) => e.type === 'retrying')
      assert.deepEqual(hub.nodes(), [])
    } finally {
      await node.close()
    }
  })

  it('a node refuses a hub whose certificate has another name, and retries', async () => {
    const wrong = await startTestHub(pki, {identity: await pki.identity('elsewhere')})
    const {log, node} = await startTestNode(pki, wrong.hub.address.port)
    try {
      const gone = await log.next((e) => e.type === 'disconnected')
      assert.match(gone.type === 'disconnected' ? gone.reason : '', /Hostname\/IP does not match certificate's altnames: Host: hub/)
      await log.next((e) => e.type === 'retrying')
      assert.equal(log.events.some((e) => e.type === 'connected'), false)
      assert.deepEqual(wrong.hub.nodes(), [])
    } finally {
      await node.close()
      await wrong.hub.close()
    }
  })

  it('closes a connection that sends malformed frames, with a logged reason; other nodes are unaffected', async () => {
    const {node} = await startTestNode(pki, hub.address.port)
    await hub.waitForNode('node-a')
    try {
      const from = hubLog.events.length
      const bad = await rawNode(pki, hub.address.port, 'node-b')
      await hub.waitForNode('node-b')
      bad.write(Buffer.from('GET / HTTP/1.1\r\nHost: hub\r\n\r\n'))
      const gone = await hubLog.next((e) => e.type === 'node-disconnected' && e.node === 'node-b', from)
      assert.match(gone.type === 'node-disconnected' ? gone.reason : '', /unknown frame type 0x47/)
      assert.equal(gone.type === 'node-disconnected' && gone.error?.code, 'RW_ERR_PROTOCOL')
      await bad.closed
      assert.match(goawayReason(bad.frames) ?? '', /unknown frame type 0x47/)
      assert.deepEqual(await replyJson(await hub.request('node-a', {args: ['still ', 'here'], noun: 'cat', verb: 'GET'}, T)), {result_from_client: 'still here'})
    } finally {
      await node.close()
    }
  })

  it('closes a connection that sends an over-limit frame; other nodes are unaffected', async () => {
    const {node} = await startTestNode(pki, hub.address.port)
    await hub.waitForNode('node-a')
    try {
      const from = hubLog.events.length
      const bad = await rawNode(pki, hub.address.port, 'node-b')
      bad.write(encodeJsonFrame(FrameType.HELLO, 0, 0, {heartbeatMs: 5000, role: 'node', version: PIPE_PROTOCOL_VERSION}))
      bad.write(encodeFrameHeader(FrameType.DATA, 0, 2, 10 * 1024 * 1024))
      const gone = await hubLog.next((e) => e.type === 'node-disconnected' && e.node === 'node-b', from)
      assert.match(gone.type === 'node-disconnected' ? gone.reason : '', /10485760 bytes exceeds the 65536 byte limit/)
      await bad.closed
      assert.equal((await hub.request('node-a', {args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
    } finally {
      await node.close()
    }
  })

  it('answers an EVENT with invalid metadata with RESET 400 and keeps the connection', async () => {
    const bad = await rawNode(pki, hub.address.port, 'node-b')
    bad.write(encodeJsonFrame(FrameType.HELLO, 0, 0, {heartbeatMs: 5000, role: 'node', version: PIPE_PROTOCOL_VERSION}))
    // JSON metadata (protocol version 1's) does not match the binary layout.
    bad.write(encodeJsonFrame(FrameType.EVENT, 1, 2, {noun: 'time', verb: 42}))
    // INLINE with a metadata length past the end of the frame: also just this event.
    bad.write(encodeFrame(FrameType.EVENT, 3, 6, Buffer.from([0, 200, 0x7b, 0x7d])))
    bad.write(encodeFrame(FrameType.EVENT, 1, 8, encodeEventMeta({args: [], noun: 'time', verb: '4x'})))
    bad.write(encodeFrame(FrameType.EVENT, 1, 4, encodeEventMeta({args: [], noun: 'time', verb: 'GET'})))
    await waitFor(() => bad.frames.some((frame) => frame.type === FrameType.REPLY), 5000, 'a REPLY to the valid EVENT')
    const resets = bad.frames.filter((frame) => frame.type === FrameType.RESET)
    assert.deepEqual(resets.map((frame) => [frame.streamId, JSON.parse(frame.payload.toString())]), [
      [2, {code: 400, reason: 'EVENT metadata does not match its layout'}],
      [6, {code: 400, reason: 'INLINE metadata length exceeds the frame'}],
      [8, {code: 400, reason: 'EVENT needs a verb made of letters'}],
    ])
    assert.equal(bad.frames.find((frame) => frame.type === FrameType.REPLY)?.streamId, 4)
    assert.ok(hub.nodes().some((info) => info.name === 'node-b'))
  })

  it('hub killed and restarted: events in flight fail at once with 503, the node reconnects and events flow', async () => {
    const own = await startTestHub(pki)
    const port = own.hub.address.port
    const {log, node} = await startTestNode(pki, port)
    try {
      await own.hub.waitForNode('node-a')
      const outcome = (pending: Promise<unknown>): Promise<unknown> => pending.then(() => 'answered', (error: unknown) => error)
      const inFlight = outcome(own.hub.request('node-a', {args: [], noun: 'hang', verb: 'GET'}, {timeoutMs: 60_000}))
      const fromNode = outcome(node.request({args: [], noun: 'hang', verb: 'GET'}, {timeoutMs: 60_000}))
      await own.hub.close()
      for (const pending of [inFlight, fromNode]) {
        const error = await pending
        assert.ok(isRestwireError(error, 'RW_ERR_CLOSED'), String(error))
        assert.equal(error.details?.status, 503)
      }

      // While the hub is away, an event from the node waits a bounded time, then 503.
      const away = await outcome(node.request({args: [], noun: 'time', verb: 'GET'}, {timeoutMs: 200}))
      assert.ok(isRestwireError(away, 'RW_ERR_CLOSED') && away.details?.status === 503, String(away))
      const from = log.events.length
      const again = await startTestHub(pki, {port})
      try {
        await log.next((e) => e.type === 'connected', from)
        assert.equal((await node.request({args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
        await again.hub.waitForNode('node-a')
        assert.equal((await again.hub.request('node-a', {args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
      } finally {
        await again.hub.close()
      }
    } finally {
      await node.close()
    }
  })

  it('network cut without FIN: both sides detect the dead peer by heartbeat, in-flight events fail 503, the node reconnects', async () => {
    const proxy = await startCuttableProxy({host: '127.0.0.1', port: hub.address.port})
    // The hub (heartbeat 200 ms) notices well before the node (1 s), so the order of events is fixed.
    const {log, node} = await startTestNode(pki, proxy.port, {heartbeatMs: 1000})
    const outcome = (pending: Promise<unknown>): Promise<unknown> => pending.then(() => 'answered', (error: unknown) => error)
    try {
      await node.connected()
      await hub.waitForNode('node-a')
      const from = hubLog.events.length
      const nodeFrom = log.events.length
      const inFlight = outcome(hub.request('node-a', {args: [], noun: 'hang', verb: 'GET'}, {timeoutMs: 60_000}))
      const fromNode = outcome(node.request({args: [], noun: 'hang', verb: 'GET'}, {timeoutMs: 60_000}))
      proxy.cut()
      const gone = await hubLog.next((e) => e.type === 'node-disconnected' && e.node === 'node-a', from)
      assert.match(gone.type === 'node-disconnected' ? gone.reason : '', /no heartbeat from node-a for \d+ ms/)
      const hubSide = await inFlight
      assert.ok(isRestwireError(hubSide, 'RW_ERR_CLOSED') && hubSide.details?.status === 503, String(hubSide))
      const nodeGone = await log.next((e) => e.type === 'disconnected', nodeFrom)
      assert.match(nodeGone.type === 'disconnected' ? nodeGone.reason : '', /no heartbeat from hub for \d+ ms/)
      const nodeSide = await fromNode
      assert.ok(isRestwireError(nodeSide, 'RW_ERR_CLOSED') && nodeSide.details?.status === 503, String(nodeSide))
      await log.next((e) => e.type === 'connected', nodeFrom)
      assert.equal((await node.request({args: [], noun: 'time', verb: 'GET'}, T)).code, 0)
    } finally {
      await node.close()
      await proxy.close()
    }
  })

  it('reads identities from the directory layout and names the missing file', async () => {
    const identity = await pki.identity('hub')
    assert.equal(identity.cert.toString(), await readFile(join(pki.dir, 'hub.pem'), 'utf8'))
    await assert.rejects(pki.identity('nobody'), (error) => {
      assert.ok(isRestwireError(error, 'RW_ERR_CONFIG'))
      assert.match(error.message, /cannot read the (certificate|private key) .*nobody(-key)?\.pem: no such file/)
      return true
    })
  })
})

