import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {clusterFlags, clusterOptions} from '../../cli/cluster-flags.js'
import {inspectOnHttpFlags} from '../../cli/inspect-flags.js'
import {addressFlag, durationFlag, logFormatFlag, positiveIntFlag} from '../../cli/flags.js'
import {LOOPBACK_HOST} from '../../core/address.js'
import {DEFAULT_LOGIN_GRACE_MS, DEFAULT_MAX_STARTUPS} from '../../core/startup-gate.js'
import {DEFAULT_GATEWAY_PORT, DEFAULT_GATEWAY_TIMEOUT_MS, DEFAULT_HTTP_API_PORT, DEFAULT_HTTP_MAX_CONNECTIONS, DEFAULT_MAX_IN_FLIGHT} from '../../core/tunnel/defaults.js'

export default class TunnelGateway extends BaseCommand<typeof TunnelGateway> {
  static override summary = 'Accept tunnel nodes and call them through a local HTTP API.'
  static override description = `Listens on TCP (--listen) for nodes started with \`restwire tunnel expose\`. On each connection the gateway is the SSH client: it authenticates with --identity, verifies the node's host key against --known-nodes (--accept-new trusts a node id seen for the first time) and keeps a registry of connected nodes by id.

A local HTTP API (--http, loopback by default; it has no authentication of its own) calls them: GET /nodes lists the connected nodes; METHOD /nodes/<id>/<path>?query makes one request (GET, POST, PATCH, PUT as PATCH, DELETE; the query becomes params and a JSON body data) and answers with the node's status and JSON body; GET /nodes/<id>/<path> with "Accept: application/x-ndjson" or "Accept: text/event-stream" follows a STREAM item by item, and cancels it when the client goes away. Unknown node 404, node gone 503, no answer within --timeout 504; a node answer that is invalid or cannot be written as JSON 502; a request over the tunnel's 16 MiB message limit 413.

Limits against hostile peers: a connection must finish the SSH handshake and IDENTIFY within --login-grace of the TCP accept; at most --max-startups connections may be in that state at once (the excess is closed on accept; registered nodes are never counted); at most --max-http-connections HTTP API connections at once; at most --max-in-flight requests and streams waiting on one node (then 503). An HTTP client that stops reading a STREAM while the node's channel is full has it cancelled after 1 s, so it holds up the node's other callers for about a second at most.

With --cluster, several gateways act as one through NATS: a node may dial any of them (\`tunnel expose --to\` takes several), METHOD /nodes/<id>/<path> and STREAMs on any gateway's API reach it wherever it is (a client that goes away cancels the STREAM across gateways), GET /nodes lists the whole cluster with the gateway holding each node, and the newest connection of a node wins across gateways. See docs/cluster.md.

The same port serves the inspector at / (docs/inspect.md): the connected nodes and the last requests live, each one in full with a Replay button. It stays on loopback unless --inspect-token (or RESTWIRE_INSPECT_TOKEN) is set: a non-loopback --http without a token is refused, unless --no-inspect turns the inspector off.

With no --identity the restwire home's client key is used ($RESTWIRE_HOME, else $XDG_CONFIG_HOME/restwire or ~/.config/restwire); the default --known-nodes is the known_nodes file there. Node connections and rejections are logged on stderr. SIGINT or SIGTERM stops both listeners, ends streams and exits 0.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --accept-new', description: 'Trust nodes on first use; nodes dial 127.0.0.1:8022, the API is http://127.0.0.1:8080'},
    {command: '<%= config.bin %> <%= command.id %> --listen 0.0.0.0:8022 --identity ~/.ssh/gateway_key --known-nodes /etc/restwire/known_nodes', description: 'Accept nodes from the network, trusting only listed node keys'},
    {command: 'curl http://127.0.0.1:8080/nodes', description: 'List the connected nodes'},
    {command: 'curl -X POST http://127.0.0.1:8080/nodes/api-node/create -d \'{"name":"ada"}\'', description: 'Call a route on a node'},
    {command: 'xdg-open http://127.0.0.1:8080/', description: 'Open the inspector: nodes, live requests, replay'},
    {command: 'RESTWIRE_INSPECT_TOKEN=$(openssl rand -hex 24) <%= config.bin %> <%= command.id %> --http 0.0.0.0:8080', description: 'API and inspector on every interface; the inspector needs the token (open /#token=...)'},
    {command: 'curl -N -H "Accept: application/x-ndjson" http://127.0.0.1:8080/nodes/api-node/stream', description: 'Follow a STREAM as NDJSON'},
    {command: 'curl http://127.0.0.1:8080/metrics', description: 'Prometheus metrics (also /healthz, and /readyz: 503 while a --cluster gateway cannot reach NATS)'},
    {command: '<%= config.bin %> <%= command.id %> --listen 0.0.0.0:8022 --cluster nats://10.0.0.5:4222 --nats-user gw --cluster-hub gw-a', description: 'One gateway of a cluster (password in RESTWIRE_NATS_PASS); start the others with the same --cluster'},
    {command: '<%= config.bin %> <%= command.id %> --listen 0.0.0.0:8022 --login-grace 10s --max-startups 20', description: 'On an exposed port: drop connections that do not register within 10 s, at most 20 handshakes at once'},
  ]

  static override flags = {
    ...clusterFlags,
    ...inspectOnHttpFlags,
    'accept-new': Flags.boolean({description: 'Trust and record the host key of a node id that --known-nodes does not list yet.'}),
    http: addressFlag({default: `${LOOPBACK_HOST}:${DEFAULT_HTTP_API_PORT}`, description: 'Where the local HTTP API listens (port 0 picks a free one).', role: 'listen'}),
    identity: Flags.string({char: 'i', description: 'SSH private key the gateway authenticates with (repeatable; default: the restwire home client key).', multiple: true, multipleNonGreedy: true}),
    'known-nodes': Flags.string({description: 'known_hosts-style file of trusted node keys, patterns matching node ids (default: <restwire home>/known_nodes).'}),
    'log-format': logFormatFlag(),
    listen: addressFlag({default: `${LOOPBACK_HOST}:${DEFAULT_GATEWAY_PORT}`, description: 'Where nodes dial in (0.0.0.0:PORT for every interface; port 0 picks a free one).', role: 'listen'}),
    'login-grace': durationFlag({default: DEFAULT_LOGIN_GRACE_MS, description: 'Time from the TCP accept for a node to finish the SSH handshake and IDENTIFY; then the connection is closed.'}),
    'max-http-connections': positiveIntFlag({default: DEFAULT_HTTP_MAX_CONNECTIONS, description: 'HTTP API connections open at once; beyond it new ones are closed.'}),
    'max-in-flight': positiveIntFlag({default: DEFAULT_MAX_IN_FLIGHT, description: 'Requests and streams waiting on one node; beyond it they are answered 503 by the gateway.'}),
    'max-startups': positiveIntFlag({default: DEFAULT_MAX_STARTUPS, description: 'Node connections still in the handshake at once; the excess is closed on accept.'}),
    timeout: durationFlag({default: DEFAULT_GATEWAY_TIMEOUT_MS, description: 'Bound on every request (and the first answer of a stream); then 504.'}),
  }

  async run(): Promise<{port: number; http: string} | undefined> {
    const {flags} = this
    const {runTunnelGateway} = await import('../../cli/tunnel-gateway.js')
    return runTunnelGateway({
      acceptNew: flags['accept-new'],
      cluster: clusterOptions(flags),
      host: flags.listen.host,
      http: flags.http,
      identityPaths: flags.identity,
      inspect: {enabled: flags.inspect, token: flags['inspect-token']},
      json: this.jsonEnabled(),
      knownNodesPath: flags['known-nodes'],
      logFormat: flags['log-format'],
      loginGraceMs: flags['login-grace'],
      maxHttpConnections: flags['max-http-connections'],
      maxInFlight: flags['max-in-flight'],
      maxStartups: flags['max-startups'],
      port: flags.listen.port,
      timeoutMs: flags.timeout,
    })
  }
}
