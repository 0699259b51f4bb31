import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {addressListFlag, durationFlag, metricsFlag, positiveIntFlag, requireAddresses} from '../../cli/flags.js'
import {sshServerFlags} from '../../cli/ssh-server-flags.js'
import {targetFlag} from '../../cli/targets.js'
import type {TunnelExposeResult} from '../../cli/tunnel-expose.js'
import {DEFAULT_BACKOFF_MAX_MS, DEFAULT_MAX_IN_FLIGHT, DEFAULT_NODE_HANDSHAKE_TIMEOUT_MS} from '../../core/tunnel/defaults.js'

export default class TunnelExpose extends BaseCommand<typeof TunnelExpose> {
  static override summary = 'Expose routes to a tunnel gateway by dialling out to it (the node).'
  static override description = `Dials TCP to the gateway at --to, then acts as the SSH server on that socket: the gateway authenticates with a key listed in --authorized-keys and calls this node's routes (GET, POST, PATCH, DELETE and STREAM) over that one connection.

With no --host-key and --authorized-keys, the restwire home holds a host key and an authorized_keys file, created on first run, that authorize the local client key (the one \`restwire tunnel gateway\` uses by default).

Routes come from --routes FILE (a JS or TS module, as for korv serve, plus async-generator handlers for STREAM), --upstream URL (GET/POST/PATCH/DELETE forwarded to an HTTP service; STREAM as a GET whose NDJSON lines or SSE events become items) or --demo (GET /home, POST /create, STREAM /stream).

The node redials forever with exponential backoff and jitter (from 0.5s up to --max-backoff) and logs every state change on stderr, naming the gateway dialled. Several gateways (repeat --to, or separate them with commas): the node holds one connection, to one gateway at a time; it first dials a random one, moves to the next at once when a dial fails or its gateway goes away, and waits the backoff only after every gateway has failed in turn. A gateway that accepts TCP but has not finished the SSH handshake and sent IDENTIFY within --handshake-timeout of the connect is dropped, and the node redials. --once stops when the first connection ends (with several gateways: tries each in turn until one completes the handshake, without a backoff): exit 0, or 3 if it never connected. SIGINT or SIGTERM closes the node and exits 0.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --to 127.0.0.1:8022 --demo', description: 'Zero configuration: demo routes to a gateway on this machine'},
    {command: '<%= config.bin %> <%= command.id %> --to gw.example.com:8022 --routes ./routes.js --node-id api-1', description: 'Your handlers, under a chosen node id'},
    {command: '<%= config.bin %> <%= command.id %> --to gw-a.example.com:8022,gw-b.example.com:8022 --routes ./routes.js', description: 'Two gateways: dial one, move to the other when it fails'},
    {command: '<%= config.bin %> <%= command.id %> --to gw.example.com:8022 --demo --handshake-timeout 5s', description: 'Give up on a gateway that does not finish the handshake within 5 s, and redial'},
    {command: '<%= config.bin %> <%= command.id %> --to gw.example.com:8022 --upstream http://127.0.0.1:3000 --host-key /etc/restwire/node_key --authorized-keys ./gateways', description: 'Put a local HTTP service behind the tunnel'},
    {command: '<%= config.bin %> <%= command.id %> --to gw.example.com:8022 --demo --metrics 9465', description: 'Prometheus metrics on 127.0.0.1:9465/metrics; /readyz answers 200 only while connected'},
  ]

  static override flags = {
    ...sshServerFlags({
      authorizedPeers: 'gateway keys allowed to call',
      callers: 'callers',
      demoRoutes: 'GET /home, POST /create, STREAM /stream',
      log: 'Log',
      routesDoc: 'docs/tunnel.md',
      upstream: 'STREAM: NDJSON or SSE response',
    }),
    'handshake-timeout': durationFlag({default: DEFAULT_NODE_HANDSHAKE_TIMEOUT_MS, description: 'From the TCP connect to the gateway\'s IDENTIFY; then the node drops the connection and redials.'}),
    'max-backoff': durationFlag({default: DEFAULT_BACKOFF_MAX_MS, description: 'Longest wait between redials.'}),
    'max-in-flight': positiveIntFlag({default: DEFAULT_MAX_IN_FLIGHT, description: 'Requests and streams in flight per gateway connection; beyond it they get 503.'}),
    metrics: metricsFlag(),
    'node-id': Flags.string({description: 'Node id the gateway knows this node by (default: derived from the host key).'}),
    once: Flags.boolean({description: 'Stop when the first connection ends instead of redialling.'}),
    target: targetFlag(),
    to: addressListFlag({description: 'The gateway to dial (its --listen), or several.', role: 'to'}),
  }

  async run(): Promise<TunnelExposeResult> {
    const {flags} = this
    const {runTunnelExpose} = await import('../../cli/tunnel-expose.js')
    return runTunnelExpose({
      authorizedKeysPath: flags['authorized-keys'],
      backoff: {maxMs: flags['max-backoff']},
      demo: flags.demo,
      handlerTimeoutMs: flags['handler-timeout'],
      handshakeTimeoutMs: flags['handshake-timeout'],
      hostKeyPaths: flags['host-key'],
      logFormat: flags['log-format'],
      maxInFlight: flags['max-in-flight'],
      metrics: flags.metrics,
      nodeId: flags['node-id'],
      once: flags.once,
      routesPath: flags.routes,
      to: requireAddresses(flags.to, 'the gateway to dial, or several'),
      tracebacks: flags.tracebacks ?? flags.demo,
      upstreamUrl: flags.upstream,
    })
  }
}
