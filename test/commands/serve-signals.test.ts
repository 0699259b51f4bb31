// Every server command's stop (cli/serve-until-signal.ts), through the built CLI: with a request held in
// flight, the first SIGINT starts the drain, the request still gets its answer and the server exits 0;
// a second SIGINT during the drain exits 130 at once. (tunnel expose closes without a drain: its one-signal
// stop is in tunnel-expose.test.ts.)
import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {type Server, type ServerResponse, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {Router} from '../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../src/core/ssh/authorized-keys.js'
import {exposeNode} from '../../src/core/tunnel/index.js'
import {type CliProcess, type RunResult, restwire, spawnCli, startServe} from '../helpers/cli.js'
import {startPipeProcess} from '../helpers/pipe-cli.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {startRelayCli} from '../helpers/relay-cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {makeNodeHostKey} from '../helpers/tunnel-fixture.js'
import {skipWithout} from '../helpers/tools.js'

/** An HTTP service that holds every request until release(): the work in flight that a server drains. */
interface HeldUpstream {
  url: string
  /** Resolves once a request is being held. */
  arrived(): Promise<void>
  /** Answers every held request 200 {"released": true}. */
  release(): void
  close(): Promise<void>
}

async function startHeldUpstream(): Promise<HeldUpstream> {
  const held: ServerResponse[] = []
  let waiters: Array<() => void> = []
  const server: Server = createServer((request, response) => {
    request.resume()
    held.push(response)
    for (const wake of waiters) wake()
    waiters = []
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const release = (): void => {
    for (const response of held.splice(0)) response.writeHead(200, {'content-type': 'application/json'}).end('{"released":true}')
  }

  return {
    arrived: () => (held.length > 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve))),
    async close() {
      release()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
    release,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  }
}

/**
 * With `call` in flight and held at the upstream: SIGINT, wait for the server's drain line, then either
 * release the upstream (the call succeeds, the server exits 0) or send a second SIGINT (exit 130).
 */
async function stopWhileInFlight(upstream: HeldUpstream, server: CliProcess, call: () => Promise<RunResult | number>, draining: RegExp, second: boolean): Promise<void> {
  const answered = call()
  await upstream.arrived()
  const from = server.stderr.length
  server.child.kill('SIGINT')
  await server.waitForLine(draining, from)
  if (second) {
    server.child.kill('SIGINT')
    assert.equal(await server.exited, 130, server.stderr.join('\n'))
    upstream.release()
    await answered
    return
  }

  upstream.release()
  const result = await answered
  assert.equal(typeof result === 'number' ? result : result.code, 0, typeof result === 'number' ? '' : result.stderr)
  assert.equal(await server.exited, 0, server.stderr.join('\n'))
}

describe('server commands: first SIGINT drains and exits 0, a second exits 130', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-serve-signals-')
  let upstream: HeldUpstream
  const children: CliProcess[] = []
  before(async () => {
    upstream = await startHeldUpstream()
  })
  after(async () => {
    for (const child of children) child.child.kill('SIGKILL')
    await upstream?.close()
  })

  for (const second of [false, true]) {
    const outcome = second ? 'a second SIGINT exits 130' : 'the drain ends, exit 0'
    it(`korv serve: ${outcome}`, async () => {
      const env = {RESTWIRE_HOME: join(dir(), 'korv-home')}
      const serve = await startServe(['--upstream', upstream.url], env)
      children.push(serve)
      const call = () => restwire(['korv', 'call', 'GET', '/held', '--to', String(serve.port)], env)
      await stopWhileInFlight(upstream, serve, call, /SIGINT: draining in-flight requests/, second)
    })

    it(`relay start: ${outcome}`, async () => {
      const configPath = join(dir(), 'relay.json')
      await writeFile(configPath, JSON.stringify({requests: {held: {method: 'GET', url: `${upstream.url}/held`}}}))
      const relay = await startRelayCli(['--config', configPath, '--listen', 'tcp://127.0.0.1:0'])
      children.push(relay)
      const call = () => restwire(['relay', 'send', 'held', '--to', relay.address], {})
      await stopWhileInFlight(upstream, relay, call, /SIGINT: finishing requests in flight/, second)
    })

    it(`tunnel gateway: ${outcome}`, async () => {
      const home = join(dir(), `gateway-home-${second}`)
      const gateway = spawnCli(['tunnel', 'gateway', '--listen', '0', '--http', '127.0.0.1:0', '--log-format', 'json', '--accept-new'], {RESTWIRE_HOME: home})
      children.push(gateway)
      const listening = await gateway.waitForLog(/"event":"listening"/)
      const hostKey = await makeNodeHostKey(dir(), `node_host_key_${second}`)
      const node = exposeNode({
        authorizedKeys: await AuthorizedKeysFile.open(join(home, 'authorized_keys')),
        hostKeys: [{privateKey: hostKey.key.privateKey}],
        nodeId: 'held-node',
        once: true,
        router: new Router().route('GET', '/held', async () => (await fetch(`${upstream.url}/held`)).json()),
        to: {host: '127.0.0.1', port: listening.port as number},
      })
      try {
        await gateway.waitForLog(/"event":"node connected"/)
        const call = async () => (await fetch(`${String(listening.http)}/nodes/held-node/held`).then(async (response) => (await response.text(), response.status === 200 ? 0 : response.status)).catch(() => -1))
        await stopWhileInFlight(upstream, gateway, call, /SIGINT: closing the HTTP API/, second)
      } finally {
        await node.close()
      }
    })

    it(`pipe serve and pipe connect: ${outcome}`, {skip: skipWithout('openssl')}, async () => {
      const pki = await makePipePki(join(dir(), `pki-${second}`))
      const handlers = join(dir(), 'held-handlers.mjs')
      await writeFile(handlers, `export async function get_held() { return (await fetch(${JSON.stringify(`${upstream.url}/held`)})).json() }\n`)
      const hub = await startPipeProcess(['serve', '--ca', pki.dir, '--listen', '0', '--http', '127.0.0.1:0', '--handlers', handlers], /"event":"listening"/)
      children.push(hub)
      const hubLog = await hub.waitForLog(/"event":"listening"/)
      const connect = async (name: string): Promise<{node: CliProcess; http: string}> => {
        const node = await startPipeProcess(
          ['connect', '--to', `127.0.0.1:${String(hubLog.port)}`, '--hub-name', 'hub', '--ca', pki.dir, '--name', name, '--handlers', handlers, '--http', '127.0.0.1:0'],
          /"event":"started"/,
        )
        children.push(node)
        const http = String((await node.waitForLog(/"event":"started"/)).http)
        await node.waitForLog(/"event":"connected"/)
        return {http, node}
      }

      const a = await connect('node-a')
      const b = await connect('node-b')
      // node-b's gateway to the hub's handler; then the hub's gateway to node-a's handler.
      await stopWhileInFlight(upstream, b.node, () => restwire(['pipe', 'call', 'GET', '/server/held', '--to', b.http], {}), /SIGINT: stopping the node/, second)
      await stopWhileInFlight(upstream, hub, () => restwire(['pipe', 'call', 'GET', '/client/node-a/held', '--to', String(hubLog.http)], {}), /SIGINT: stopping the hub/, second)
      a.node.child.kill('SIGKILL')
    })
  }
})
