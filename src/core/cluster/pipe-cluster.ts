// The pipe hub's side of a cluster: joins NATS, then makes the hub's registry a ClusterPeerRegistry.
// Each local node's call subject is served here (forward.ts, holder side); a node on another hub is a
// proxy session whose request() forwards the event (caller side). Without --cluster none of this loads.
import type {Subscription} from '@nats-io/transport-node'
import {PeerGoneError} from '../errors.js'
import type {LocalPeerRegistry} from '../link/peer-registry.js'
import {DEFAULT_AWAIT_PEER_MS, type PipePeer, type PipePeerRegistry} from '../pipe/hub.js'
import type {PipeEvent, PipeReply, SendOptions} from '../pipe/session.js'
import {ClusterPeerRegistry} from './cluster-peer-registry.js'
import {type ForwardHost, NotConnectedAnywhere, forwardEvent, serveCall} from './forward.js'
import {HubWatch} from './hub-watch.js'
import {type ClusterOptions, type ClusterState, type NatsLink, connectNats} from './nats-link.js'
import {Presence, type RemoteNode} from './presence.js'

export type {ClusterOptions, ClusterState} from './nats-link.js'

export interface PipeClusterOptions extends ClusterOptions {
  /** As the hub's awaitNodeMs: how long a call waits for a known node that is away, before 503. */
  awaitNodeMs?: number
  /** NATS lost ('degraded') or back ('connected'). */
  onState?: (state: ClusterState, detail: string) => void
}

export interface PipeCluster {
  readonly hubName: string
  readonly state: ClusterState
  /** For startPipeHub's `registry` option. */
  registry(local: LocalPeerRegistry<PipePeer>): PipePeerRegistry
  /** Leaves NATS; call after the hub closed. Safe twice. */
  close(): Promise<void>
}

/** Joins the cluster's NATS (RW_ERR_CLUSTER if no server accepts this hub). */
export async function joinPipeCluster(options: PipeClusterOptions): Promise<PipeCluster> {
  const link = await connectNats(options)
  return {
    close: () => link.close(),
    hubName: link.hubName,
    registry: (local) => clusterRegistry(link, local, options),
    get state() {
      return link.state
    },
  }
}

function clusterRegistry(link: NatsLink, local: LocalPeerRegistry<PipePeer>, options: PipeClusterOptions): PipePeerRegistry {
  const awaitNodeMs = options.awaitNodeMs ?? DEFAULT_AWAIT_PEER_MS
  const served = new Map<string, Subscription>()
  // The presence callbacks use `registry` (made below): they only run after presence.start().
  const presence: Presence = new Presence(link, {
    localNodes: () => registry.localClaims(),
    onClaim: (claim) => registry.claimed(claim),
    onHubGone: (hubId) => watch.gone(hubId, 'the hub holding the node is gone'),
  })
  const watch = new HubWatch((hubId) => presence.alive(hubId))
  const host: ForwardHost = {link, subjects: presence.subjects, watch: (hubId, fail) => watch.watch(hubId, fail)}

  // A call to a node the directory places on another hub; if it is connected nowhere (the directory
  // was behind), it is waited for like a node that is away, once.
  const forward = async (entry: RemoteNode, event: PipeEvent, sendOptions: SendOptions): Promise<PipeReply> => {
    const node = entry.node
    try {
      return await forwardEvent(host, node, event, sendOptions)
    } catch (error) {
      if (!(error instanceof NotConnectedAnywhere)) throw error
    }

    presence.drop(node, entry.hubId)

    const notConnected = new PeerGoneError(`node "${node}" is not connected`, {status: 503})
    const peer = await registry.waitFor(node, Math.min(awaitNodeMs, sendOptions.timeoutMs))
    if (!peer) throw notConnected
    if (!peer.hub) return peer.session.request(event, sendOptions)
    try {
      return await forwardEvent(host, node, event, sendOptions)
    } catch (error) {
      throw error instanceof NotConnectedAnywhere ? notConnected : error
    }
  }

  const inFlight = new Map<string, number>()
  const remote = (entry: RemoteNode): PipePeer => ({
    address: entry.address,
    close() {},
    closed: new Promise(() => {}),
    destroy() {},
    hub: entry.hubName,
    session: {
      get inFlight() {
        return inFlight.get(entry.node) ?? 0
      },
      request(event, sendOptions) {
        inFlight.set(entry.node, (inFlight.get(entry.node) ?? 0) + 1)
        const done = (): void => {
          const left = (inFlight.get(entry.node) ?? 1) - 1
          if (left === 0) inFlight.delete(entry.node)
          else inFlight.set(entry.node, left)
        }

        const call = forward(entry, event, sendOptions)
        call.then(done, done)
        return call
      },
      since: new Date(entry.at),
    },
  })

  const registry: ClusterPeerRegistry<PipePeer> = new ClusterPeerRegistry<PipePeer>({
    address: (peer) => peer.address,
    hubId: link.hubId,
    hubName: link.hubName,
    local,
    onLocal(name, present) {
      served.get(name)?.unsubscribe()
      served.delete(name)
      if (!present) return
      const callback = (_error: Error | null, msg: Parameters<typeof serveCall>[1]): void => {
        const peer = local.get(name)
        serveCall(host, msg, peer && ((event, sendOptions) => peer.session.request(event, sendOptions)))
      }

      served.set(name, link.nc.subscribe(presence.subjects.node(name), {callback}))
    },
    presence,
    remote,
  })

  link.onState((state, detail) => {
    if (state === 'degraded') {
      watch.all(`the cluster is degraded (${detail}): calls to other hubs failed`)
      presence.forgetOthers()
    } else presence.rejoin()
    options.onState?.(state, detail)
  })
  presence.start()

  return Object.assign(registry, {
    cluster: () => ({hub: link.hubName, hubs: [link.hubName, ...presence.hubNames().map((hub) => hub.name)].sort(), name: link.cluster, state: link.state}),
    hubName: link.hubName,
  }) as ClusterPeerRegistry<PipePeer> & PipePeerRegistry
}
