import {BaseCommand} from '../../cli/base-command.js'
import {inspectOwnPortFlags} from '../../cli/inspect-flags.js'
import {addressFlag, durationFlag, metricsFlag, positiveIntFlag, sizeFlag} from '../../cli/flags.js'
import {sshServerFlags} from '../../cli/ssh-server-flags.js'
import {LOOPBACK_HOST} from '../../core/address.js'
import {RestwireError} from '../../core/errors.js'
import {
  DEFAULT_DRAIN_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_KORV_PORT,
  DEFAULT_LOGIN_GRACE_MS,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_STARTUPS,
} from '../../core/korv/defaults.js'
import {DEFAULT_MAX_PARTIAL_BYTES_PER_CONNECTION, DEFAULT_MAX_PARTIAL_BYTES_TOTAL} from '../../core/korv/decode-budget.js'

export default class KorvServe extends BaseCommand<typeof KorvServe> {
  static override summary = 'Serve a JSON API over SSH (korv).'
  static override description = `Starts an SSH server that answers korv requests: gzip-JSON messages on direct-tcpip channels (Korv 0.2 clients, \`restwire korv call\`, \`ssh -W\`) and NDJSON on the "korv" subsystem (\`ssh -s HOST korv\`). Clients authenticate with a key listed in the authorized_keys file.

With no --host-key and --authorized-keys, the restwire home ($RESTWIRE_HOME, else $XDG_CONFIG_HOME/restwire or ~/.config/restwire) holds a host key and an authorized_keys file, created on first run, that authorize the local client key used by \`restwire korv call\`.

Requests are answered by --routes FILE (a JS or TS module), --upstream URL (forwarded to an HTTP service) or --demo. One log line per request goes to stderr. SIGINT or SIGTERM stops accepting, lets in-flight requests finish (--drain-timeout) and exits 0.

--inspect HOST:PORT serves the inspector page there (docs/inspect.md): the last requests live, each in full, replayed through the same handler. It stays on loopback unless --inspect-token (or RESTWIRE_INSPECT_TOKEN) is set.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --demo', description: 'Zero configuration: demo routes on 127.0.0.1:8022'},
    {command: '<%= config.bin %> <%= command.id %> --routes ./routes.js --listen 2222', description: 'Your handlers, on 127.0.0.1:2222'},
    {command: '<%= config.bin %> <%= command.id %> --upstream http://127.0.0.1:3000 --listen 0.0.0.0:8022 --host-key /etc/restwire/host_key --authorized-keys ~/.ssh/authorized_keys', description: 'Put an SSH front on a local HTTP service'},
    {command: '<%= config.bin %> <%= command.id %> --routes ./routes.js --listen 0.0.0.0:8022 --login-grace 10s --max-startups 50 --max-channels 4', description: 'Facing the internet: tighter limits on unauthenticated connections and channels'},
    {command: '<%= config.bin %> <%= command.id %> --routes ./routes.js --tracebacks', description: 'While developing: send stack traces in 500 bodies'},
    {command: '<%= config.bin %> <%= command.id %> --demo --inspect 8081', description: 'With the inspector page on http://127.0.0.1:8081/: live requests, each in full, replay'},
    {command: '<%= config.bin %> <%= command.id %> --demo --metrics 9464', description: 'Prometheus metrics on http://127.0.0.1:9464/metrics, health on /healthz and /readyz'},
  ]

  static override flags = {
    ...inspectOwnPortFlags,
    ...sshServerFlags({
      authorizedPeers: 'client keys allowed in',
      callers: 'clients',
      demoRoutes: 'GET /hello, GET /echo, STORE /echo, GET /time',
      log: 'Request log',
      routesDoc: 'docs/korv.md',
      upstream: 'GET→GET, STORE→POST, UPDATE→PUT, DELETE→DELETE',
    }),
    'drain-timeout': durationFlag({default: DEFAULT_DRAIN_MS, description: 'On SIGINT/SIGTERM, how long in-flight requests may finish.'}),
    'idle-timeout': durationFlag({default: DEFAULT_IDLE_TIMEOUT_MS, description: 'Close a connection that sends nothing this long with nothing in flight (0 = never).'}),
    'login-grace': durationFlag({default: DEFAULT_LOGIN_GRACE_MS, description: 'A connection must authenticate this soon after the TCP accept, or is closed.'}),
    'max-channels': positiveIntFlag({default: DEFAULT_MAX_CHANNELS, description: 'korv channels open at once on one connection; more are refused.'}),
    'max-in-flight': positiveIntFlag({default: DEFAULT_MAX_IN_FLIGHT, description: 'Requests in flight per connection; beyond it requests get 503.'}),
    'max-message-size': sizeFlag({default: DEFAULT_MAX_MESSAGE_BYTES, description: 'Largest decompressed request (e.g. 16MiB).'}),
    'max-partial-size': sizeFlag({default: DEFAULT_MAX_PARTIAL_BYTES_PER_CONNECTION, description: 'Unfinished (partly received) requests one connection may hold across its channels; beyond it the channel gets 413.'}),
    'max-partial-total': sizeFlag({default: DEFAULT_MAX_PARTIAL_BYTES_TOTAL, description: 'Unfinished requests all connections together may hold; beyond it the connection holding the most loses its largest channel (503).'}),
    'max-startups': positiveIntFlag({default: DEFAULT_MAX_STARTUPS, description: 'Connections still authenticating at once; more are refused at once.'}),
    listen: addressFlag({default: `${LOOPBACK_HOST}:${DEFAULT_KORV_PORT}`, description: 'Where to accept SSH connections (0.0.0.0:PORT for every interface; port 0 picks a free one).', role: 'listen'}),
    metrics: metricsFlag(),
  }

  async run(): Promise<{address: string; port: number} | undefined> {
    const {flags} = this
    if (flags['login-grace'] <= 0) throw new RestwireError('RW_ERR_USAGE', '--login-grace must be more than 0: every connection would be closed at once')
    const {runKorvServe} = await import('../../cli/korv-serve.js')
    return runKorvServe({
      authorizedKeysPath: flags['authorized-keys'],
      demo: flags.demo,
      drainMs: flags['drain-timeout'],
      handlerTimeoutMs: flags['handler-timeout'],
      host: flags.listen.host,
      hostKeyPaths: flags['host-key'],
      idleTimeoutMs: flags['idle-timeout'],
      inspect: {address: flags.inspect, token: flags['inspect-token']},
      json: this.jsonEnabled(),
      logFormat: flags['log-format'],
      loginGraceMs: flags['login-grace'],
      maxChannels: flags['max-channels'],
      maxInFlight: flags['max-in-flight'],
      maxMessageBytes: flags['max-message-size'],
      maxPartialBytesPerConnection: flags['max-partial-size'],
      maxPartialBytesTotal: flags['max-partial-total'],
      maxStartups: flags['max-startups'],
      metrics: flags.metrics,
      port: flags.listen.port,
      routesPath: flags.routes,
      tracebacks: flags.tracebacks ?? flags.demo,
      upstreamUrl: flags.upstream,
    })
  }
}
