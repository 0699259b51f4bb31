import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {LocalPeerRegistry} from '../../../src/core/link/peer-registry.js'
import type {LinkSession} from '../../../src/core/link/session.js'
import {FakeClock, settle} from '../../helpers/fake-clock.js'

/** A peer connection; with answersClose false it never finishes a close (a peer that went silent). */
class FakePeer implements LinkSession {
  readonly closed: Promise<void>
  readonly closeReasons: string[] = []
  destroyed = false
  private resolveClosed!: () => void

  constructor(
    readonly label: string,
    private readonly answersClose = true,
    private readonly onClose?: (peer: FakePeer) => void,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve))
  }

  close(reason: string): void {
    this.closeReasons.push(reason)
    if (this.answersClose) this.gone()
  }

  destroy(): void {
    this.destroyed = true
    this.gone()
  }

  private gone(): void {
    this.resolveClosed()
    this.onClose?.(this)
  }
}

function registry() {
  const clock = new FakeClock()
  return {clock, peers: new LocalPeerRegistry<FakePeer>({clock, closeGraceMs: 1000})}
}

describe('LocalPeerRegistry', () => {
  it('registers, lists in order of first connection, and remembers names that connected', () => {
    const {peers} = registry()
    const a = new FakePeer('a')
    const b = new FakePeer('b')
    assert.equal(peers.add('a', a, 'replaced'), undefined)
    peers.add('b', b, 'replaced')
    assert.equal(peers.get('a'), a)
    assert.equal(peers.size, 2)
    assert.deepEqual(peers.list(), [['a', a], ['b', b]])
    assert.equal(peers.remove('a', a), true)
    assert.equal(peers.get('a'), undefined)
    assert.equal(peers.known('a'), true, 'a name that connected stays known')
    assert.equal(peers.known('c'), false)
    assert.deepEqual(peers.list(), [['b', b]])
  })

  it('remembers at most maxRemembered names: the longest gone is forgotten first, a connected one never', () => {
    const peers = new LocalPeerRegistry<FakePeer>({clock: new FakeClock(), maxRemembered: 3})
    const sessions = new Map(['a', 'b', 'c', 'd', 'e'].map((name) => [name, new FakePeer(name)]))
    const connect = (name: string): void => void peers.add(name, sessions.get(name)!, 'replaced')
    const leave = (name: string): void => void peers.remove(name, sessions.get(name)!)
    connect('a')
    connect('b')
    leave('b')
    connect('c')
    leave('c')
    // b reconnects and leaves again: now c is the longest gone.
    connect('b')
    leave('b')
    connect('d')
    assert.deepEqual(['a', 'b', 'c', 'd'].map((name) => peers.known(name)), [true, true, false, true], 'c forgotten; a is connected')
    leave('d')
    connect('e')
    assert.deepEqual(['a', 'b', 'd', 'e'].map((name) => peers.known(name)), [true, false, true, true], 'b forgotten next')
    assert.deepEqual(peers.away(), ['d'])
  })

  it('the newest connection wins: the older session is closed and returned, and keeps its place in the list', () => {
    const {peers} = registry()
    const old = new FakePeer('old')
    const other = new FakePeer('other')
    peers.add('n', old, 'replaced')
    peers.add('m', other, 'replaced')
    const newer = new FakePeer('newer')
    assert.equal(peers.add('n', newer, 'replaced by a newer connection'), old)
    assert.deepEqual(old.closeReasons, ['replaced by a newer connection'])
    assert.equal(peers.get('n'), newer)
    assert.deepEqual(peers.list(), [['n', newer], ['m', other]])
  })

  it('newest wins while the old session is still closing: its late end does not remove the new one', () => {
    const {peers} = registry()
    const removeOnClose = (peer: FakePeer): boolean => peers.remove('n', peer)
    const old = new FakePeer('old', false, removeOnClose)
    peers.add('n', old, 'replaced')
    const newer = new FakePeer('newer', false, removeOnClose)
    peers.add('n', newer, 'replaced')
    assert.deepEqual(old.closeReasons, ['replaced'])
    assert.equal(old.destroyed, false, 'still closing')
    const newest = new FakePeer('newest')
    peers.add('n', newest, 'replaced')
    // The old sessions finish closing only now.
    old.destroy()
    newer.destroy()
    assert.equal(peers.remove('n', old), false)
    assert.equal(peers.get('n'), newest)
    assert.equal(peers.size, 1)
  })

  it('waitFor resolves at once for a connected peer, and when the peer connects', async () => {
    const {peers} = registry()
    const a = new FakePeer('a')
    peers.add('a', a, 'replaced')
    assert.equal(await peers.waitFor('a', 10), a)
    const waiting = peers.waitFor('b', 5000)
    const forever = peers.waitFor('b')
    const b = new FakePeer('b')
    peers.add('b', b, 'replaced')
    assert.equal(await waiting, b)
    assert.equal(await forever, b)
  })

  it('waitFor times out with undefined after timeoutMs, not before', async () => {
    const {clock, peers} = registry()
    let result: FakePeer | undefined | 'pending' = 'pending'
    void peers.waitFor('away', 5000).then((value) => (result = value))
    await clock.tick(4999)
    assert.equal(result, 'pending')
    await clock.tick(1)
    assert.equal(result, undefined)
    assert.equal(clock.pending, 0)
    // A later connection finds no stale waiter.
    peers.add('away', new FakePeer('away'), 'replaced')
  })

  it('close closes every session, lets their close handlers unregister them, and releases waiters', async () => {
    const {peers} = registry()
    const removed: string[] = []
    const a = new FakePeer('a', true, (peer) => peers.remove('a', peer) && removed.push('a'))
    peers.add('a', a, 'replaced')
    const waiting = peers.waitFor('b')
    await peers.close('shutting down')
    assert.deepEqual(a.closeReasons, ['shutting down'])
    assert.deepEqual(removed, ['a'], 'still registered while it closes')
    assert.equal(a.destroyed, false)
    assert.equal(await waiting, undefined)
    assert.equal(peers.size, 0)
    assert.equal(await peers.waitFor('b', 10), undefined)
  })

  it('close destroys a session that never closes, after the grace, and no sooner', async () => {
    const {clock, peers} = registry()
    const silent = new FakePeer('silent', false)
    peers.add('s', silent, 'replaced')
    let done = false
    const closing = peers.close('shutting down').then(() => (done = true))
    await clock.tick(999)
    assert.equal(silent.destroyed, false)
    assert.equal(done, false)
    await clock.tick(1)
    await closing
    assert.equal(silent.destroyed, true)
    assert.equal(peers.close('again'), peers.close('again'), 'safe twice')
  })

  it('after close, a session that connects is closed at once and not registered', async () => {
    const {peers} = registry()
    await peers.close('shutting down')
    const late = new FakePeer('late')
    assert.equal(peers.add('late', late, 'replaced'), undefined)
    assert.deepEqual(late.closeReasons, ['shutting down'])
    assert.equal(peers.get('late'), undefined)
    await settle()
  })
})
