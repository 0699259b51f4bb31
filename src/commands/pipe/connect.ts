import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {targetFlag} from '../../cli/targets.js'
import {addressFlag, addressListFlag, durationFlag, requireAddresses} from '../../cli/flags.js'
import {handlerFlags, identityFlags, timingFlags} from '../../cli/pipe-flags.js'
import {LOOPBACK_HOST} from '../../core/address.js'
import {DEFAULT_BACKOFF_MAX_MS} from '../../core/backoff.js'
import {DEFAULT_NODE_HTTP_PORT} from '../../core/pipe/defaults.js'

export default class PipeConnect extends BaseCommand<typeof PipeConnect> {
  static override summary = 'Run a pipe node: dial the hub over mutual TLS and stay connected.'
  static override description = `Dials the hub at --to with this node's client certificate, verifies the hub's certificate against the CA and its name (--hub-name, default: the host of --to), and keeps the connection up forever: heartbeats both ways, a hub silent for 3 heartbeats is dropped, and the node redials with exponential backoff and jitter (from 0.5s up to --max-backoff). Every state change is logged on stderr, naming the hub dialled.

Several hubs that serve the same pipe (repeat --to, or separate them with commas): the node holds one connection, to one hub at a time. It first dials a random one, moves to the next at once when a dial fails or its hub goes away, and waits the backoff only after every hub has failed in turn.

The identity comes from an identity directory (--ca DIR with ca.pem, NAME.pem, NAME-key.pem and --name NAME), or from --cert, --key and --ca-file. The hub knows the node by the name in its certificate.

The local HTTP gateway (--http, loopback by default): METHOD /server/<noun>[//arg/arg] sends an event to the hub and streams the reply back, with the event's return code in X-Event-Return-Code (0 ok, 251 handler raised, 255 no handler). While the hub is away an event waits up to 5s for it, then 503; no reply within --timeout 504.

Events sent by the hub are answered by --handlers, --serve-dir (GET file//PATH, read-only; no path leaves DIR), the built-in examples (GET time, GET cat//a/b) and --upstream, tried in that order. SIGINT or SIGTERM closes the node and exits 0.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --to hub.example.com:7443 --ca ./pki --name fileserver --serve-dir /srv/files', description: 'The file server of the quick start: the hub fetches GET file//PATH'},
    {command: '<%= config.bin %> <%= command.id %> --to 10.0.0.5:7443 --hub-name hub --ca ./pki --name worker-1 --upstream http://127.0.0.1:3000', description: 'Dial by IP address, check the hub\'s certificate name "hub", forward events to a local service'},
    {command: '<%= config.bin %> <%= command.id %> --to hub-a.example.com:7443,hub-b.example.com:7443 --ca ./pki --name worker-1 --upstream http://127.0.0.1:3000', description: 'Two hubs of one cluster: dial one, move to the other when it fails'},
    {command: 'curl http://127.0.0.1:8091/server/time', description: 'Call the hub from this node'},
    {command: 'curl http://127.0.0.1:8091/readyz', description: '200 while connected to a hub, 503 while not; /metrics and /healthz beside it'},
  ]

  static override flags = {
    ...identityFlags,
    ...handlerFlags,
    ...timingFlags,
    http: addressFlag({default: `${LOOPBACK_HOST}:${DEFAULT_NODE_HTTP_PORT}`, description: 'Where the local HTTP gateway listens (port 0 picks a free one).', role: 'listen'}),
    'hub-name': Flags.string({description: 'The name the hub\'s certificate must carry (default: the host of --to).'}),
    'max-backoff': durationFlag({default: DEFAULT_BACKOFF_MAX_MS, description: 'Longest wait between redials.'}),
    name: Flags.string({description: 'This node\'s name in the identity directory (NAME.pem, NAME-key.pem).', helpGroup: 'IDENTITY'}),
    target: targetFlag(),
    to: addressListFlag({description: 'The hub to dial, or several hubs of one cluster.', role: 'to'}),
  }

  async run(): Promise<{http: string} | undefined> {
    const {flags} = this
    const {runPipeConnect} = await import('../../cli/pipe-serve.js')
    return runPipeConnect({
      handlers: {builtins: flags.builtins, handlersFile: flags.handlers, serveDir: flags['serve-dir'], upstream: flags.upstream},
      heartbeatMs: flags.heartbeat,
      http: flags.http,
      hubName: flags['hub-name'],
      identity: {caFile: flags['ca-file'], certFile: flags.cert, dir: flags.ca, keyFile: flags.key, name: flags.name},
      json: this.jsonEnabled(),
      logFormat: flags['log-format'],
      maxBackoffMs: flags['max-backoff'],
      timeoutMs: flags.timeout,
      to: requireAddresses(flags.to, 'the hub to dial, or several'),
    })
  }
}
