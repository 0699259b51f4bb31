import assert from 'node:assert/strict'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {joinPipeCluster} from '../../../src/core/cluster/pipe-cluster.js'
import type {PipeNodeHandle} from '../../../src/core/pipe/node.js'
import {type NatsServer, startNatsServer} from '../../helpers/nats-server.js'
import {type ClusterHub, clusterNodes, startClusterHub, until} from '../../helpers/pipe-cluster-fixture.js'
import {startTestNode} from '../../helpers/pipe-fixture.js'
import {type PipePki, makePipePki} from '../../helpers/pipe-pki.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {skipWithout} from '../../helpers/tools.js'

// The figure; PIPE_CLUSTER_NODES=30 for a quicker local run (most of the time is making certificates).
const NODES = Number(process.env.PIPE_CLUSTER_NODES ?? 200)
const names = Array.from({length: NODES}, (_, i) => `c${String(i).padStart(3, '0')}`)

describe(`pipe cluster: 3 hubs on NATS, ${NODES} nodes spread over them`, {skip: skipWithout('nats-server', 'openssl'), timeout: 180_000}, () => {
  const dir = useTempDir('restwire-pipe-cluster-')
  let pki: PipePki
  let nats: NatsServer
  const hubs: ClusterHub[] = []
  const nodes = new Map<string, PipeNodeHandle>()
  const holder = (i: number): ClusterHub => hubs[i % 3]!

  before(async () => {
    pki = await makePipePki(dir())
    for (let i = 0; i < NODES; i += 15) await Promise.all(names.slice(i, i + 15).map((name) => pki.addNode(name)))
    await Promise.all(['stale', 'away', 'twice'].map((name) => pki.addNode(name)))
    nats = await startNatsServer()
    // Heartbeats of 1 s: hundreds of nodes, three hubs and the clients share one process and two cores.
    for (const name of ['hub-a', 'hub-b', 'hub-c']) hubs.push(await startClusterHub(pki, name, {servers: [nats.url]}, {gatewayTimeoutMs: 2000, heartbeatMs: 1000}))
    await Promise.all(
      names.map(async (name, i) => {
        const {node} = await startTestNode(pki, holder(i).hub.address.port, {heartbeatMs: 1000, name})
        nodes.set(name, node)
        await node.connected()
      }),
    )
  })
  after(async () => {
    await Promise.all([...nodes.values()].map((node) => node.close()))
    await Promise.all(hubs.map((hub) => hub.close()))
    await nats?.stop()
  })

  it('lists the whole cluster on every hub, with the hub holding each node', async () => {
    for (const hub of hubs) {
      await until(`${hub.name} to list ${NODES} nodes`, async () => (await clusterNodes(hub.gateway)).nodes.length === NODES)
      const answer = await clusterNodes(hub.gateway)
      const {since, ...cluster} = answer.cluster
      assert.deepEqual(cluster, {hub: hub.name, hubs: ['hub-a', 'hub-b', 'hub-c'], name: 'test', state: 'connected'})
      assert.ok(Date.parse(since) > 0, `since: ${since}`)
      const byName = new Map(answer.nodes.map((node) => [node.name, node.hub]))
      assert.deepEqual([...byName.keys()].sort(), names)
      names.forEach((name, i) => assert.equal(byName.get(name), holder(i).name, name))
    }
  })

  it('reaches every node from every hub, with the event return code', async () => {
    const calls = hubs.flatMap((hub) => names.map((name) => `${hub.gateway.url}/client/${name}/whoami`))
    const answers: unknown[] = []
    // 60 at a time: the point is every pair, not a load test.
    for (let i = 0; i < calls.length; i += 60) {
      answers.push(...(await Promise.all(calls.slice(i, i + 60).map(async (url) => {
        const response = await fetch(url)
        return [url, response.status, response.headers.get('x-event-return-code'), await response.json()]
      }))))
    }

    assert.deepEqual(answers, calls.map((url) => [url, 200, '0', {peer: 'hub'}]))
    const failed = await fetch(`${hubs[0]!.gateway.url}/client/${names[1]}/fail`)
    assert.equal(failed.status, 200)
    assert.equal(failed.headers.get('x-event-return-code'), '251')
    await failed.arrayBuffer()
  })

  it('carries a request body across hubs and answers with the reply status of the far side', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 17, 'x')
    const response = await fetch(`${hubs[0]!.gateway.url}/client/${names[2]}/echo`, {body, headers: {'content-type': 'text/plain'}, method: 'POST'})
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'text/plain')
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(body))
  })

  it('gives 504 across hubs when the node does not answer in time', async () => {
    const response = await fetch(`${hubs[0]!.gateway.url}/client/${names[1]}/hang`)
    assert.equal(response.status, 504)
    assert.equal(((await response.json()) as {code: string}).code, 'RW_ERR_TIMEOUT')
  })

  it('gives 404 for a node no hub has seen, and 503 for a known node that is away, on any hub', async () => {
    for (const hub of hubs) {
      const response = await fetch(`${hub.gateway.url}/client/nobody/whoami`)
      assert.equal(response.status, 404)
      assert.equal(((await response.json()) as {code: string}).code, 'RW_ERR_NODE_UNKNOWN')
    }

    const {node} = await startTestNode(pki, hubs[0]!.hub.address.port, {name: 'away'})
    await node.connected()
    await until('hub-c to see "away"', async () => (await clusterNodes(hubs[2]!.gateway)).nodes.some((entry) => entry.name === 'away'))
    await node.close()
    await until('hub-c to see "away" leave', async () => !(await clusterNodes(hubs[2]!.gateway)).nodes.some((entry) => entry.name === 'away'))
    const started = Date.now()
    const response = await fetch(`${hubs[2]!.gateway.url}/client/away/whoami`)
    assert.equal(response.status, 503)
    assert.equal(((await response.json()) as {code: string}).code, 'RW_ERR_CLOSED')
    // The bounded wait (awaitNodeMs 500 here) ran before the 503.
    assert.ok(Date.now() - started >= 400, `503 after ${Date.now() - started} ms`)
  })

  it('waits for a known node that comes back on another hub', async () => {
    const first = await startTestNode(pki, hubs[0]!.hub.address.port, {name: 'twice'})
    await first.node.connected()
    await until('hub-b to see "twice"', async () => (await clusterNodes(hubs[1]!.gateway)).nodes.some((entry) => entry.name === 'twice'))
    await first.node.close()
    await until('"twice" gone', async () => !(await clusterNodes(hubs[1]!.gateway)).nodes.some((entry) => entry.name === 'twice'))
    const call = fetch(`${hubs[1]!.gateway.url}/client/twice/whoami`)
    const second = await startTestNode(pki, hubs[2]!.hub.address.port, {name: 'twice'})
    nodes.set('twice', second.node)
    const response = await call
    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), {peer: 'hub'})
  })

  it('a hub that joins after a node left knows it from the others: 503 after the wait, not 404', async () => {
    // "away" connected to hub-a and left (the test before the last); hub-d starts only now.
    const late = await startClusterHub(pki, 'hub-d', {servers: [nats.url]}, {gatewayTimeoutMs: 2000, heartbeatMs: 1000})
    try {
      // Each hub sends the names it knows before its nodes, on one connection: once hub-d lists every
      // node, it has every hub's names too.
      await until('hub-d to list the cluster', async () => (await clusterNodes(late.gateway)).nodes.length >= NODES)
      const away = await fetch(`${late.gateway.url}/client/away/whoami`)
      assert.equal(away.status, 503)
      assert.equal(((await away.json()) as {code: string}).code, 'RW_ERR_CLOSED')
      const nobody = await fetch(`${late.gateway.url}/client/nobody/whoami`)
      assert.equal(nobody.status, 404)
      assert.equal(((await nobody.json()) as {code: string}).code, 'RW_ERR_NODE_UNKNOWN')
    } finally {
      await late.close()
    }

    for (const hub of hubs) await until(`${hub.name} to drop hub-d`, async () => !(await clusterNodes(hub.gateway)).cluster.hubs.includes('hub-d'))
  })

  it('lets the newest connection win across hubs: the stale session on the other hub is closed', async () => {
    // The stale one would redial at once and win back; a long backoff keeps it away after it is replaced.
    const stale = await startTestNode(pki, hubs[0]!.hub.address.port, {backoff: {initialMs: 60_000, maxMs: 60_000}, name: 'stale'})
    await stale.node.connected()
    await until('hub-b to see "stale" on hub-a', async () => (await clusterNodes(hubs[1]!.gateway)).nodes.some((entry) => entry.name === 'stale' && entry.hub === 'hub-a'))
    const fresh = await startTestNode(pki, hubs[1]!.hub.address.port, {name: 'stale'})
    nodes.set('stale', fresh.node)
    await fresh.node.connected()
    const closed = await hubs[0]!.log.next((event) => event.type === 'node-disconnected' && event.node === 'stale')
    assert.match((closed as {reason: string}).reason, /replaced by a newer connection of stale on hub hub-b/)
    await stale.log.next((event) => event.type === 'disconnected')
    for (const hub of hubs) {
      await until(`${hub.name} to place "stale" on hub-b`, async () => (await clusterNodes(hub.gateway)).nodes.filter((entry) => entry.name === 'stale').map((entry) => entry.hub).join() === 'hub-b')
    }

    const response = await fetch(`${hubs[2]!.gateway.url}/client/stale/whoami`)
    assert.equal(response.status, 200)
    await stale.node.close()
  })

  it('keeps serving its own nodes while NATS is down, says degraded, and rejoins by itself', async () => {
    await nats.stop()
    for (const hub of hubs) await until(`${hub.name} degraded`, async () => (await clusterNodes(hub.gateway)).cluster.state === 'degraded')
    const own = await fetch(`${hubs[0]!.gateway.url}/client/${names[0]}/whoami`)
    assert.equal(own.status, 200)
    await own.arrayBuffer()
    const answer = await clusterNodes(hubs[0]!.gateway)
    assert.deepEqual(answer.cluster.hubs, ['hub-a'])
    assert.ok(Date.parse(answer.cluster.since) > 0, `since: ${answer.cluster.since}`)
    assert.ok(answer.nodes.every((node) => node.hub === 'hub-a'))
    const far = await fetch(`${hubs[0]!.gateway.url}/client/${names[1]}/whoami`)
    assert.equal(far.status, 503)
    // Judged by what answered, not by a time: the bounded wait for a node away (500 ms here) ended in 503
    // naming the degraded cluster; a call left hanging would end in the gateway's 504 after 10 s.
    assert.match(((await far.json()) as {error: string}).error, /is not connected \(the cluster is degraded: NATS is unreachable, only this hub's nodes can be reached\)$/)

    await nats.start()
    for (const hub of hubs) {
      await until(`${hub.name} to rejoin`, async () => {
        const nodesNow = await clusterNodes(hub.gateway)
        return nodesNow.cluster.state === 'connected' && nodesNow.nodes.length >= NODES
      }, 20_000)
      assert.deepEqual(hub.states, ['degraded', 'connected'])
    }

    const again = await fetch(`${hubs[0]!.gateway.url}/client/${names[1]}/whoami`)
    assert.equal(again.status, 200)
    assert.deepEqual(await again.json(), {peer: 'hub'})
  })
})

describe('pipe cluster: NATS credentials', {skip: skipWithout('nats-server'), timeout: 60_000}, () => {
  let nats: NatsServer
  before(async () => {
    nats = await startNatsServer({pass: 's3cret-pass', user: 'hubs'})
  })
  after(() => nats?.stop())

  it('joins with the right user and password, and refuses a hub without them or with wrong ones', async () => {
    const joined = await joinPipeCluster({name: 'auth', pass: 's3cret-pass', servers: [nats.url], user: 'hubs'})
    assert.equal(joined.state, 'connected')
    await joined.close()
    await assert.rejects(joinPipeCluster({name: 'auth', pass: 'wrong', servers: [nats.url], user: 'hubs'}), (error: {code?: string; message: string}) => {
      assert.equal(error.code, 'RW_ERR_CLUSTER')
      assert.match(error.message, /authorization/i)
      return true
    })
    await assert.rejects(joinPipeCluster({name: 'auth', servers: [nats.url]}), {code: 'RW_ERR_CLUSTER'})
  })

  it('joins with a token, and refuses a wrong one', async () => {
    const guarded = await startNatsServer({token: 'a-long-token'})
    try {
      const joined = await joinPipeCluster({name: 'auth', servers: [guarded.url], token: 'a-long-token'})
      await joined.close()
      await assert.rejects(joinPipeCluster({name: 'auth', servers: [guarded.url], token: 'wrong'}), {code: 'RW_ERR_CLUSTER'})
    } finally {
      await guarded.stop()
    }
  })
})

describe('pipe cluster: TLS to NATS', {skip: skipWithout('nats-server', 'openssl'), timeout: 60_000}, () => {
  const dir = useTempDir('restwire-pipe-cluster-tls-')
  it('joins over TLS with the CA that signed the server, and refuses without it', async () => {
    const pki = await makePipePki(dir())
    const nats = await startNatsServer({tls: {cert: join(pki.dir, 'hub.pem'), key: join(pki.dir, 'hub-key.pem')}})
    try {
      assert.match(nats.url, /^tls:/)
      const joined = await joinPipeCluster({name: 'tls', servers: [nats.url], tls: {caFile: join(pki.dir, 'ca.pem')}})
      assert.equal(joined.state, 'connected')
      await joined.close()
      await assert.rejects(joinPipeCluster({name: 'tls', servers: [nats.url]}), {code: 'RW_ERR_CLUSTER'})
    } finally {
      await nats.stop()
    }
  })
})
