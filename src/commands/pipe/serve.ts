import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {addressFlag, durationFlag, positiveIntFlag} from '../../cli/flags.js'
import {clusterFlags, clusterOptions} from '../../cli/cluster-flags.js'
import {inspectOnHttpFlags} from '../../cli/inspect-flags.js'
import {handlerFlags, identityFlags, timingFlags} from '../../cli/pipe-flags.js'
import {LOOPBACK_HOST} from '../../core/address.js'
import {DEFAULT_HUB_HTTP_PORT, DEFAULT_PIPE_PORT} from '../../core/pipe/defaults.js'
import {DEFAULT_LOGIN_GRACE_MS, DEFAULT_MAX_STARTUPS} from '../../core/startup-gate.js'
import type {PipeServeResult} from '../../cli/pipe-serve.js'

export default class PipeServe extends BaseCommand<typeof PipeServe> {
  static override summary = 'Run the pipe hub: nodes dial in over mutual TLS; call them through a local HTTP gateway.'
  static override description = `Listens on TLS (--listen) and accepts nodes whose client certificate is signed by the pipe CA; a node is named by its certificate (CN). A newer connection under the same name replaces the older one. Heartbeats run both ways; a node silent for 3 heartbeats is dropped and its events in flight fail with 503.

The identity comes from an identity directory (--ca DIR with ca.pem, NAME.pem, NAME-key.pem; --name defaults to "hub"), or from --cert, --key and --ca-file.

The local HTTP gateway (--http, loopback by default; it has no authentication of its own): METHOD /client/<node>/<noun>[//arg/arg] sends an event to that node and streams the reply back, with the event's return code in X-Event-Return-Code (0 ok, 251 handler raised, 255 no handler); GET /nodes lists the connected nodes. Unknown node 404; a known node that is away is waited for (up to 5s), then 503; no reply within --timeout 504.

Events sent by nodes are answered by --handlers (functions named verb_noun, RestPipe style), --serve-dir (GET file//PATH, read-only), the built-in examples (GET time, GET cat//a/b) and --upstream, tried in that order.

A connection must finish TLS and send its HELLO within --login-grace of the TCP accept, else it is closed; at most --max-startups connections may be at that stage at once (more are refused at once; connected nodes never count).

With --cluster, several hubs act as one through NATS: a node may connect to any of them, METHOD /client/<node>/... on any hub's gateway reaches it wherever it is, GET /nodes lists the whole cluster with the hub holding each node, and the newest connection of a node wins across hubs. NATS unreachable: each hub serves its own nodes, logs the cluster as degraded, says so in GET /nodes, and rejoins by itself. See docs/cluster.md.

The gateway's port also serves the inspector at / (docs/inspect.md): the connected nodes and the last events live, each one in full with a Replay button. It stays on loopback unless --inspect-token (or RESTWIRE_INSPECT_TOKEN) is set: a non-loopback --http without a token is refused, unless --no-inspect turns the inspector off.

Every state change is logged on stderr. SIGINT or SIGTERM closes the gateway and the node connections and exits 0.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --listen 0.0.0.0:7443', description: 'Hub on every interface, port 7443; gateway on http://127.0.0.1:8090'},
    {command: 'curl http://127.0.0.1:8090/client/fileserver/file//reports/q3.pdf -o q3.pdf', description: 'Fetch a file from node "fileserver" (started with --serve-dir)'},
    {command: 'curl http://127.0.0.1:8090/nodes', description: 'List the connected nodes'},
    {command: 'xdg-open http://127.0.0.1:8090/', description: 'Open the inspector: nodes, live events, replay'},
    {command: 'curl http://127.0.0.1:8090/metrics', description: 'Prometheus metrics (also /healthz, and /readyz: 503 while a --cluster hub cannot reach NATS)'},
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --handlers ./hub-handlers.js --upstream http://127.0.0.1:3000', description: 'Answer node events with your functions, then a local HTTP service'},
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --listen 0.0.0.0:7443 --cluster nats://10.0.0.5:4222,nats://10.0.0.6:4222 --nats-user hub --cluster-hub hub-a', description: 'One hub of a cluster (password in RESTWIRE_NATS_PASS); start the others with the same --cluster'},
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --listen 0.0.0.0:7443 --login-grace 10s --max-startups 50', description: 'On a public address: close connections without a HELLO after 10s, at most 50 at once'},
  ]

  static override flags = {
    ...identityFlags,
    ...handlerFlags,
    ...timingFlags,
    ...clusterFlags,
    ...inspectOnHttpFlags,
    http: addressFlag({default: `${LOOPBACK_HOST}:${DEFAULT_HUB_HTTP_PORT}`, description: 'Where the local HTTP gateway listens (port 0 picks a free one).', role: 'listen'}),
    listen: addressFlag({default: `${LOOPBACK_HOST}:${DEFAULT_PIPE_PORT}`, description: 'Where nodes dial in over TLS (0.0.0.0:PORT for every interface; port 0 picks a free one).', role: 'listen'}),
    'login-grace': durationFlag({default: DEFAULT_LOGIN_GRACE_MS, description: 'A connection must finish TLS and send its HELLO within this time of the TCP accept, else it is closed.'}),
    'max-startups': positiveIntFlag({default: DEFAULT_MAX_STARTUPS, description: 'Connections allowed between TCP accept and HELLO at once; more are refused at once (connected nodes never count).'}),
    name: Flags.string({default: 'hub', description: 'This hub\'s name in the identity directory (NAME.pem, NAME-key.pem).', helpGroup: 'IDENTITY'}),
  }

  async run(): Promise<PipeServeResult | undefined> {
    const {flags} = this
    const {runPipeServe} = await import('../../cli/pipe-serve.js')
    return runPipeServe({
      cluster: clusterOptions(flags),
      handlers: {builtins: flags.builtins, handlersFile: flags.handlers, serveDir: flags['serve-dir'], upstream: flags.upstream},
      heartbeatMs: flags.heartbeat,
      host: flags.listen.host,
      http: flags.http,
      inspect: {enabled: flags.inspect, token: flags['inspect-token']},
      identity: {caFile: flags['ca-file'], certFile: flags.cert, dir: flags.ca, keyFile: flags.key, name: flags.name},
      json: this.jsonEnabled(),
      logFormat: flags['log-format'],
      loginGraceMs: flags['login-grace'],
      maxStartups: flags['max-startups'],
      port: flags.listen.port,
      timeoutMs: flags.timeout,
    })
  }
}
