// Several hubs or gateways behind one --to: a node dials one, passes over one that is down, and moves to
// another when its own is killed (SIGKILL). Real processes: the built CLI as hubs, gateways and nodes.
// The first dial goes to a random target, so the order is the unit tests' (test/core/link/redialer.test.ts);
// here every order must end on a live server.
import assert from 'node:assert/strict'
import {type AddressInfo, createServer} from 'node:net'
import {join} from 'node:path'
import {mkdir, writeFile} from 'node:fs/promises'
import {after, before, describe, it} from 'node:test'
import {type CliProcess, restwire, spawnCli} from '../helpers/cli.js'
import {startPipeProcess} from '../helpers/pipe-cli.js'
import {makePipePki} from '../helpers/pipe-pki.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {startExpose} from '../helpers/tunnel-expose.js'
import {skipWithout} from '../helpers/tools.js'

/** A loopback port nothing listens on: bound, then closed (a dial to it is refused). */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function getText(url: string): Promise<string> {
  const response = await fetch(url, {signal: AbortSignal.timeout(20_000)})
  assert.equal(response.status, 200, `${url}: ${response.status}`)
  return response.text()
}

describe('pipe connect with several hubs (real processes)', {skip: skipWithout('openssl'), timeout: 120_000}, () => {
  const dir = useTempDir('restwire-multi-pipe-')
  const processes: CliProcess[] = []
  let pkiDir: string
  after(async () => {
    for (const process of processes) await process.stop('SIGKILL')
  })

  /** A hub on port 0 of the shared CA: its node port and gateway URL. */
  const startHub = async (): Promise<{process: CliProcess; to: string; http: string}> => {
    const hub = await startPipeProcess(['serve', '--ca', pkiDir, '--listen', '0', '--http', '127.0.0.1:0', '--heartbeat', '500ms'], /"event":"listening"/)
    processes.push(hub)
    const listening = await hub.waitForLog(/"event":"listening"/)
    return {http: String(listening.http), process: hub, to: `127.0.0.1:${Number(listening.port)}`}
  }

  const startNode = async (to: string[]): Promise<{process: CliProcess; http: string}> => {
    const node = await startPipeProcess(
      ['connect', ...to, '--hub-name', 'hub', '--ca', pkiDir, '--name', 'node-a', '--http', '127.0.0.1:0', '--heartbeat', '500ms', '--max-backoff', '1s'],
      /"event":"started"/,
    )
    processes.push(node)
    return {http: String((await node.waitForLog(/"event":"started"/)).http), process: node}
  }

  before(async () => {
    pkiDir = (await makePipePki(dir())).dir
  })

  it('--to A,B with A down: the node reaches B, and its log names each hub it dials', async () => {
    const down = `127.0.0.1:${await deadPort()}`
    const hub = await startHub()
    const node = await startNode(['--to', `${down},${hub.to}`])
    assert.equal((await node.process.waitForLog(/"event":"started"/)).to, `${down},${hub.to}`)
    assert.equal((await node.process.waitForLog(/"event":"connected"/)).to, hub.to)
    assert.equal(await getText(`${hub.http}/client/node-a/cat//x/y`), '{"result_from_client":"xy"}')
    // Whichever it tried first, every dial is logged with its hub; none to the dead one succeeded.
    const dialled = node.process.stderr.filter((line) => line.includes('"event":"connecting"')).map((line) => JSON.parse(line).to as string)
    assert.ok(dialled.includes(hub.to), dialled.join(' '))
    assert.ok(dialled.every((to) => to === hub.to || to === down), dialled.join(' '))
    await node.process.stop('SIGTERM')
    await hub.process.stop('SIGTERM')
  })

  it('--to A --to B: the node moves to the other hub when its hub is killed', async () => {
    const hubs = [await startHub(), await startHub()]
    const node = await startNode(['--to', hubs[0]!.to, '--to', hubs[1]!.to])
    const first = String((await node.process.waitForLog(/"event":"connected"/)).to)
    const held = hubs.find((hub) => hub.to === first)!
    const other = hubs.find((hub) => hub !== held)!
    await held.process.waitForLog(/"event":"node connected"/)
    const mark = node.process.stderr.length
    await held.process.stop('SIGKILL')
    assert.equal((await node.process.waitForLog(/"event":"connected"/, mark)).to, other.to)
    await other.process.waitForLog(/"event":"node connected"/)
    // Reachable through the other hub's gateway, and the node's own gateway reaches the other hub.
    assert.equal(await getText(`${other.http}/client/node-a/cat//a/b`), '{"result_from_client":"ab"}')
    assert.equal(await getText(`${node.http}/server/cat//c/d`), '{"result_from_server":"cd"}')
    await node.process.stop('SIGTERM')
    await other.process.stop('SIGTERM')
  })

  it('a named target lists the hubs: config show shows the list, pipe connect --target dials them, korv call refuses it', async () => {
    const down = `127.0.0.1:${await deadPort()}`
    const hub = await startHub()
    const env = {RESTWIRE_HOME: join(dir(), 'home'), RESTWIRE_TARGET: ''}
    await mkdir(env.RESTWIRE_HOME, {recursive: true})
    await writeFile(join(env.RESTWIRE_HOME, 'config.yaml'), `targets:\n  cluster:\n    to: [${down}, ${hub.to}]\n`)
    const shown = await restwire(['config', 'show', '--target', 'cluster', '--json'], env)
    assert.equal(shown.code, 0, shown.stderr)
    const settings = (JSON.parse(shown.stdout) as {settings: Array<{command: string; flag: string; value: string; source: {kind: string}; problem?: string}>}).settings
    const find = (command: string) => settings.find((setting) => setting.command === command && setting.flag === '--to')!
    assert.deepEqual([find('pipe connect').value, find('pipe connect').source.kind], [`${down},${hub.to}`, 'config'])
    assert.equal(find('tunnel expose').value, `${down},${hub.to}`)
    assert.equal(find('korv call').problem, 'takes one address, the target lists 2 (as --to)')
    const table = await restwire(['config', 'show'], env)
    assert.match(table.stdout, /^pipe connect +--to +none \(required\) +default$/m)

    const node = spawnCli(['pipe', 'connect', '--target', 'cluster', '--hub-name', 'hub', '--ca', pkiDir, '--name', 'node-a', '--http', '127.0.0.1:0', '--log-format', 'json'], env)
    processes.push(node)
    assert.equal((await node.waitForLog(/"event":"connected"/)).to, hub.to)
    await node.stop('SIGTERM')
    const missing = await restwire(['pipe', 'connect', '--ca', pkiDir, '--name', 'node-a'], env)
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /--to is required: the hub to dial, or several/)
    await hub.process.stop('SIGTERM')
  })
})

describe('tunnel expose with several gateways (real processes)', {timeout: 120_000}, () => {
  const dir = useTempDir('restwire-multi-tunnel-')
  const processes: CliProcess[] = []
  after(async () => {
    for (const process of processes) await process.stop('SIGKILL')
  })

  /** A gateway of the shared restwire home (same client key), with its own known_nodes file. */
  const startGateway = async (name: string): Promise<{process: CliProcess; to: string; http: string}> => {
    const args = ['tunnel', 'gateway', '--listen', '0', '--http', '127.0.0.1:0', '--log-format', 'json', '--accept-new', '--known-nodes', join(dir(), `known_nodes_${name}`)]
    const gateway = spawnCli(args, {RESTWIRE_HOME: join(dir(), 'home')})
    processes.push(gateway)
    const listening = await gateway.waitForLog(/"event":"listening"/)
    return {http: String(listening.http), process: gateway, to: `127.0.0.1:${Number(listening.port)}`}
  }

  it('--to A,B with A down reaches B; killed, the node moves to the other gateway', async () => {
    const env = {RESTWIRE_HOME: join(dir(), 'home')}
    // The first gateway creates the home (client key, and the node's authorized_keys trusting it).
    const gateways = [await startGateway('a'), await startGateway('b')]
    const down = `127.0.0.1:${await deadPort()}`
    const node = startExpose(['--to', `${down},${gateways[0]!.to}`, '--to', gateways[1]!.to, '--demo', '--max-backoff', '1s'], env)
    processes.push(node)
    const first = String((await node.waitForLog(/"event":"connected"/)).to)
    const held = gateways.find((gateway) => gateway.to === first)
    assert.ok(held, `connected to ${first}, not a live gateway`)
    const other = gateways.find((gateway) => gateway !== held)!
    await held.process.waitForLog(/"event":"node connected"/)
    assert.match(await getText(`${held.http}/nodes/demo/home`), /./)
    const mark = node.stderr.length
    await held.process.stop('SIGKILL')
    // Next after the killed one may be the dead port (refused at once) before the live one.
    assert.equal((await node.waitForLog(/"event":"connected"/, mark)).to, other.to)
    await other.process.waitForLog(/"event":"node connected"/)
    assert.match(await getText(`${other.http}/nodes/demo/home`), /./)
    const dialled = node.stderr.filter((line) => line.includes('"event":"connecting"')).map((line) => JSON.parse(line).to as string)
    assert.ok(dialled.every((to) => [down, gateways[0]!.to, gateways[1]!.to].includes(to)), dialled.join(' '))
    assert.equal(await node.stop('SIGTERM'), 0, node.stderr.join('\n'))
  })

  it('--once with one gateway down connects to the live one (whichever it dials first), and exits 0 when that one goes away', async () => {
    const env = {RESTWIRE_HOME: join(dir(), 'home')}
    const gateway = await startGateway('once')
    const down = `127.0.0.1:${await deadPort()}`
    const node = startExpose(['--to', `${down},${gateway.to}`, '--demo', '--once', '--node-id', 'once-node'], env)
    processes.push(node)
    assert.equal((await node.waitForLog(/"event":"connected"/)).to, gateway.to)
    await gateway.process.stop('SIGKILL')
    assert.equal(await node.exited, 0, node.stderr.join('\n'))
  })
})
