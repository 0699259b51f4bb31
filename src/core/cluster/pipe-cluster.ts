// The pipe hub's side of a cluster (cluster-registry.ts does the work): a local node answers a forwarded
// event with its own session; a node on another hub is a proxy peer whose request() forwards the event.
// Without --cluster none of this loads.
import {DEFAULT_AWAIT_PEER_MS, type PipePeer, type PipePeerRegistry} from '../pipe/hub.js'
import {type ClusterAdapter, type JoinOptions, type JoinedCluster, joinCluster} from './cluster-registry.js'

export type {ClusterOptions, ClusterState} from './nats-link.js'

export interface PipeClusterOptions extends JoinOptions {
  /** As the hub's awaitNodeMs: how long a call waits for a known node that is away, before 503. */
  awaitNodeMs?: number
}

export interface PipeCluster extends Omit<JoinedCluster<PipePeer>, 'registry'> {
  /** For startPipeHub's `registry` option. */
  registry(local: Parameters<JoinedCluster<PipePeer>['registry']>[0]): PipePeerRegistry
}

const pipeAdapter: ClusterAdapter<PipePeer> = {
  address: (peer) => peer.address,
  since: (peer) => peer.session.since.getTime(),
  remote: (entry, call) => ({
    address: entry.address,
    close() {},
    closed: new Promise(() => {}),
    destroy() {},
    hub: entry.hubName,
    session: {
      get inFlight() {
        return call.inFlight
      },
      request: (event, sendOptions) => call.request(event, sendOptions),
      since: new Date(entry.at),
    },
  }),
  serve: (peer) => (event, sendOptions) => peer.session.request(event, sendOptions),
}

/** Joins the cluster's NATS (RW_ERR_CLUSTER if no server accepts this hub). */
export function joinPipeCluster(options: PipeClusterOptions): Promise<PipeCluster> {
  return joinCluster({awaitNodeMs: DEFAULT_AWAIT_PEER_MS, ...options, service: 'pipe'}, pipeAdapter)
}
