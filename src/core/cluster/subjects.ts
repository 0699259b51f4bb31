// The NATS subjects of one cluster, all under restwire.<service>.<cluster> (service: pipe or tunnel, so
// that a pipe cluster and a tunnel cluster of the same name never mix):
//   .beat               every hub, each second: {hub, name} (a hub silent for 3 s is gone)
//   .up / .down         a node connected to / left a hub: {hub, name, nodes: [{node, at, address}]} / {hub, node}
//   .sync               {hub, to?}: a hub (re)joined (every hub announces its nodes again on .up, and
//                       on .seen the names it knows that are connected nowhere), or asks one hub it had
//                       not heard from (`to`) to
//   .seen               {hub, name, nodes: [name]}: nodes known to the cluster and connected nowhere now
//   .bye                a hub is closing: {hub}
//   .hub.<hubId>.ping   request/reply: is that hub alive (no responders: it is gone)
//   .node.<token>       request: open a call to a node; only the hub holding it subscribes, so "no
//                       responders" means the node is connected nowhere. token = base64url(name), since
//                       a node name may hold '.', '*', '>' or spaces, which subjects cannot.

export interface ClusterSubjects {
  beat: string
  up: string
  down: string
  sync: string
  seen: string
  bye: string
  ping(hubId: string): string
  node(name: string): string
}

export type ClusterService = 'pipe' | 'tunnel'

/** Node subjects kept made (subjects.node) per cluster. */
const NODE_SUBJECTS_KEPT = 4096

export function clusterSubjects(cluster: string, service: ClusterService = 'pipe'): ClusterSubjects {
  const prefix = `restwire.${service}.${cluster}`
  // Every forwarded event names its node's subject: the base64url of its name is kept for the nodes
  // called lately (bounded: forgotten all at once when full).
  const tokens = new Map<string, string>()
  const node = (name: string): string => {
    let subject = tokens.get(name)
    if (subject === undefined) {
      if (tokens.size >= NODE_SUBJECTS_KEPT) tokens.clear()
      tokens.set(name, (subject = `${prefix}.node.${Buffer.from(name).toString('base64url') || '_'}`))
    }

    return subject
  }

  return {
    beat: `${prefix}.beat`,
    bye: `${prefix}.bye`,
    down: `${prefix}.down`,
    node,
    ping: (hubId) => `${prefix}.hub.${hubId}.ping`,
    seen: `${prefix}.seen`,
    sync: `${prefix}.sync`,
    up: `${prefix}.up`,
  }
}
