// Pipe hubs joined in a cluster over a test nats-server, each with its HTTP gateway, in this process.
import {joinPipeCluster, type PipeCluster, type PipeClusterOptions} from '../../src/core/cluster/pipe-cluster.js'
import {type PipeGatewayHandle, startPipeGateway} from '../../src/core/pipe/gateway.js'
import type {PipeHubEvent, PipeHubHandle, PipeHubOptions} from '../../src/core/pipe/hub.js'
import {type EventLog, startTestHub} from './pipe-fixture.js'
import type {PipePki} from './pipe-pki.js'

export interface ClusterHub {
  name: string
  hub: PipeHubHandle
  cluster: PipeCluster
  gateway: PipeGatewayHandle
  log: EventLog<PipeHubEvent>
  states: string[]
  close(): Promise<void>
}

export async function startClusterHub(
  pki: PipePki,
  name: string,
  cluster: Omit<PipeClusterOptions, 'name' | 'hubName'> & {name?: string},
  overrides: Partial<PipeHubOptions> & {gatewayTimeoutMs?: number} = {},
): Promise<ClusterHub> {
  const states: string[] = []
  const {gatewayTimeoutMs, ...hubOverrides} = overrides
  const joined = await joinPipeCluster({awaitNodeMs: 500, name: 'test', ...cluster, hubName: name, onState: (state) => states.push(state)})
  const {hub, log} = await startTestHub(pki, {awaitNodeMs: 500, registry: (local) => joined.registry(local), ...hubOverrides})
  const gateway = await startPipeGateway({hub, kind: 'hub'}, {port: 0, timeoutMs: gatewayTimeoutMs ?? 10_000})
  let closing: Promise<void> | undefined
  return {
    close: () =>
      (closing ??= (async () => {
        await gateway.close()
        await hub.close()
        await joined.close()
      })()),
    cluster: joined,
    gateway,
    hub,
    log,
    name,
    states,
  }
}

/** Polls `check` every 50 ms until it returns true; fails after timeoutMs. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export interface NodesAnswer {
  cluster: {name: string; hub: string; state: string; since: string; hubs: string[]}
  nodes: Array<{name: string; hub: string; address: string}>
}

export async function clusterNodes(gateway: PipeGatewayHandle): Promise<NodesAnswer> {
  return (await (await fetch(`${gateway.url}/nodes`)).json()) as NodesAnswer
}
