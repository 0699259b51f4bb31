// Joining a cluster and making a side's registry a cluster's, for any service (pipe hubs, tunnel
// gateways): each local node's call subject is served here (forward.ts, holder side); a node on another
// hub is a session made by the service's adapter, whose calls forward the event (caller side). The
// adapter only says how a local session answers an event and what stands for a remote node.
import type {Msg, Subscription} from '@nats-io/transport-node'
import {PeerGoneError} from '../errors.js'
import type {LocalPeerRegistry} from '../link/peer-registry.js'
import type {LinkSession} from '../link/session.js'
import type {PipeEvent, PipeReply, SendOptions} from '../pipe/session.js'
import {ClusterPeerRegistry} from './cluster-peer-registry.js'
import {CallInbox} from './call-inbox.js'
import {prefetchBody} from './body-flow.js'
import {type ForwardHost, type LocalRequest, NotConnectedAnywhere, type OpenMessage, forwardEvent, serveCall, strayMessage} from './forward.js'
import {HubWatch} from './hub-watch.js'
import {type ClusterOptions, type ClusterState, type NatsLink, connectNats} from './nats-link.js'
import {Presence, type RemoteNode} from './presence.js'
import {MessageType, decodeBatch} from './wire.js'

/** How long a call waits for a known node that is connected nowhere (it may be moving hub), before 503. */
export const DEFAULT_AWAIT_NODE_MS = 5000

export interface ClusterInfo {
  hub: string
  hubs: string[]
  name: string
  state: ClusterState
  /** When the state began (ISO 8601): joining, losing NATS, or rejoining. */
  since: string
}

/** A node on another hub, as the adapter's remote session sees it. */
export interface RemoteCall {
  request(event: PipeEvent, options: SendOptions): Promise<PipeReply>
  /** Calls this hub forwards to the node now. */
  readonly inFlight: number
}

export interface ClusterAdapter<S extends LinkSession> {
  /** Where a local session connected from (for the other hubs' node lists). */
  address(session: S): string
  /** A tunnel node's host key fingerprint, announced with it. */
  fingerprint?(session: S): string
  /** When a local session connected (epoch ms): announced as is, so every hub lists the same time. */
  since(session: S): number
  /** How a local session answers an event forwarded by another hub. */
  serve(session: S): LocalRequest
  /** The session standing for a node held by another hub. */
  remote(entry: RemoteNode, call: RemoteCall): S
}

export interface JoinOptions extends ClusterOptions {
  awaitNodeMs?: number
  /** NATS lost ('degraded') or back ('connected'). */
  onState?: (state: ClusterState, detail: string) => void
  /** A malformed or hostile message from another NATS member (at most one a second, with a count of the rest). */
  onProblem?: (problem: string) => void
}

/**
 * Reports at most one problem a second: a flood of bad messages must not become a flood of log lines.
 * What a second holds back is reported at its end (the last problem, with a count of the others).
 */
function problemReporter(onProblem: ((problem: string) => void) | undefined): (problem: string) => void {
  let last = 0
  let held: {problem: string; count: number} | undefined
  let timer: NodeJS.Timeout | undefined
  const emit = (problem: string, others: number): void => {
    last = Date.now()
    onProblem?.(others > 0 ? `${problem} (and ${others} more problems in the last second)` : problem)
  }

  return (problem) => {
    if (Date.now() - last >= 1000 && !held) return emit(problem, 0)
    held = {count: (held?.count ?? 0) + 1, problem}
    timer ??= setTimeout(() => {
      timer = undefined
      const {count, problem: latest} = held!
      held = undefined
      emit(latest, count - 1)
    }, Math.max(0, 1000 - (Date.now() - last))).unref()
  }
}

export type ClusterRegistry<S extends LinkSession> = ClusterPeerRegistry<S> & {cluster(): ClusterInfo; readonly hubName: string}

export interface JoinedCluster<S extends LinkSession> {
  readonly hubName: string
  readonly state: ClusterState
  /** The side's registry of nodes, from its own local one. */
  registry(local: LocalPeerRegistry<S>): ClusterRegistry<S>
  /** Leaves NATS; call after the side closed. Safe twice. */
  close(): Promise<void>
}

/** Joins the cluster's NATS (RW_ERR_CLUSTER if no server accepts this hub). */
export async function joinCluster<S extends LinkSession>(options: JoinOptions, adapter: ClusterAdapter<S>): Promise<JoinedCluster<S>> {
  const link = await connectNats(options)
  return {
    close: () => link.close(),
    hubName: link.hubName,
    registry: (local) => clusterRegistry(link, local, adapter, options),
    get state() {
      return link.state
    },
  }
}

function clusterRegistry<S extends LinkSession>(link: NatsLink, local: LocalPeerRegistry<S>, adapter: ClusterAdapter<S>, options: JoinOptions): ClusterRegistry<S> {
  const awaitNodeMs = options.awaitNodeMs ?? DEFAULT_AWAIT_NODE_MS
  const served = new Map<string, Subscription>()
  // The presence callbacks use `registry` (made below): they only run after presence.start().
  const presence: Presence = new Presence(link, {
    localNodes: () => registry.localClaims(),
    localAway: () => registry.localAway(),
    report: (problem) => report(problem),
    onClaim: (claim) => registry.claimed(claim),
    onHubGone: (hubId) => watch.gone(hubId, 'the hub holding the node is gone'),
  })
  const watch = new HubWatch((hubId) => presence.alive(hubId))
  const report = problemReporter(options.onProblem)
  const host: ForwardHost = {
    inbox: new CallInbox(link.nc, link.hubId, (msg) => strayMessage(host, msg), (error) => report(`a malformed message for a call (${error.message})`)),
    link,
    report,
    served: new Set(),
    subjects: presence.subjects,
    watch: (hubId, fail) => watch.watch(hubId, fail),
  }
  // A batch of opens to one node (nats-link.ts) answers "no responders" to a group of its calls.
  link.openGroups = (replies) => host.inbox.group(replies)

  // A call to a node the directory places on another hub; if it is connected nowhere (the directory
  // was behind), it is waited for like a node that is away, once.
  const forward = async (entry: RemoteNode, event: PipeEvent, sendOptions: SendOptions): Promise<PipeReply> => {
    const node = entry.node
    // Read ahead once for every attempt: a streamed source read again would skip what the first read.
    const body = event.body === undefined ? undefined : await prefetchBody(event.body)
    try {
      return await forwardEvent(host, node, event, body, sendOptions, entry.hubId)
    } catch (error) {
      if (!(error instanceof NotConnectedAnywhere)) throw error
    }

    presence.drop(node, entry.hubId)

    const notConnected = new PeerGoneError(`node "${node}" is not connected`, {status: 503})
    const peer = await registry.waitFor(node, Math.min(awaitNodeMs, sendOptions.timeoutMs))
    if (!peer) throw notConnected
    if (local.get(node) === peer) return adapter.serve(peer)(body ? {...event, body: 'inline' in body ? body.inline : body.streamed} : event, sendOptions)
    try {
      return await forwardEvent(host, node, event, body, sendOptions, presence.get(node)?.hubId)
    } catch (error) {
      throw error instanceof NotConnectedAnywhere ? notConnected : error
    }
  }

  const inFlight = new Map<string, number>()
  const remote = (entry: RemoteNode): S =>
    adapter.remote(entry, {
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
    })

  const registry: ClusterPeerRegistry<S> = new ClusterPeerRegistry<S>({
    address: (session) => adapter.address(session),
    fingerprint: adapter.fingerprint && ((session) => adapter.fingerprint!(session)),
    hubId: link.hubId,
    hubName: link.hubName,
    local,
    since: (session) => adapter.since(session),
    onLocal(name, present) {
      served.get(name)?.unsubscribe()
      served.delete(name)
      if (!present) return
      const callback = (_error: Error | null, msg: Msg): void => {
        const session = local.get(name)
        const request = session && adapter.serve(session)
        // A batch of opens (wire.ts): each entry is an open, its address the caller's reply subject.
        // Checked whole before any is served; a malformed one is dropped whole, reported.
        let opens: OpenMessage[] = [msg]
        if (msg.data[0] === MessageType.batch) {
          try {
            opens = decodeBatch(msg.data).map((entry) => ({data: entry.payload, reply: entry.address, subject: msg.subject}))
          } catch (error) {
            return report(`a malformed batch of opens for ${name} (${(error as Error).message}): dropped`)
          }
        }

        for (const open of opens) {
          try {
            serveCall(host, open, request)
          } catch (error) {
            report(`a malformed open for ${name} (${(error as Error).message})`)
          }
        }
      }

      served.set(name, link.nc.subscribe(presence.subjects.node(name), {callback}))
    },
    onClose() {
      // Calls served for other hubs end now: one waiting for credit would otherwise hold the process.
      const closing = new PeerGoneError('the hub holding the node is shutting down', {status: 503})
      for (const stop of [...host.served]) stop(closing)
      watch.all('this hub is shutting down')
    },
    presence,
    remote,
  })

  let since = new Date()
  link.onState((state, detail) => {
    since = new Date()
    if (state === 'degraded') {
      watch.all(`the cluster is degraded (${detail}): calls to other hubs failed`)
      presence.forgetOthers()
    } else presence.rejoin()
    options.onState?.(state, detail)
  })
  presence.start()

  return Object.assign(registry, {
    cluster: (): ClusterInfo => ({
      hub: link.hubName,
      hubs: [link.hubName, ...presence.hubNames().map((hub) => hub.name)].sort(),
      name: link.cluster,
      since: since.toISOString(),
      state: link.state,
    }),
    hubName: link.hubName,
  })
}
