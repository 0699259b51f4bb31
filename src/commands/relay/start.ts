import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {inspectOwnPortFlags} from '../../cli/inspect-flags.js'
import {addressFlag, durationFlag, logFormatFlag, metricsFlag} from '../../cli/flags.js'
import {socketModeFlag} from '../../cli/relay-flags.js'
import {DEFAULT_RELAY_ADDRESS, RELAY_LISTEN} from '../../core/relay/address.js'
import {DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS} from '../../core/relay/limits.js'

export default class RelayStart extends BaseCommand<typeof RelayStart> {
  static override summary = 'Serve named HTTP requests to local clients over a line-JSON socket.'
  static override description = `Listens on TCP or a UNIX socket (--listen). Each client line {"request": NAME, "id": ID, "params": {...}, "data": ...} runs the HTTP request NAME from --config (JSON or YAML: method, URL template, expected status, body encoding, headers, auth from environment variables, timeout, retries, query, ca, redirects). The client gets {"status": "dispatched"} at once and {"status": "ok"|"error", "time", "response", "http_status", "headers"} when the HTTP exchange ends. Clients can reach nothing that is not in the config. Wire format: txhttprelay-compatible; see docs/relay.md.

HTTPS certificates are verified (system roots, or "ca" from the config). A client that disconnects cancels its requests in flight. A UNIX socket is created with mode 0600 (--socket-mode); a stale socket file is replaced, a live one is refused.

One log line per request on stderr (name, id, outcome, HTTP status, time; never params, bodies or secrets), written in batches of one event-loop turn and flushed before exit; if stderr takes nothing, at most 1 MiB waits and later lines are dropped and counted. SIGHUP reloads the config without dropping connections (an invalid file is logged and the old config kept). SIGINT or SIGTERM lets requests in flight finish (up to 10 s) and exits 0.

Limits: a connection with no request in flight is closed after --idle-timeout without a complete line; past --max-connections new connections are closed at once; a client that does not read its replies is not read from until it does.

--inspect HOST:PORT serves the inspector page there (docs/inspect.md): the last requests live, each in full, replayed as one more request line on the relay's socket. It stays on loopback unless --inspect-token (or RESTWIRE_INSPECT_TOKEN) is set.

Exit codes: 0 after SIGINT/SIGTERM, 2 invalid config or flags, 3 cannot listen.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --config relay.yaml', description: 'Listen on tcp://127.0.0.1:9876'},
    {command: '<%= config.bin %> <%= command.id %> --config relay.json --listen unix:/run/restwire/relay.sock --socket-mode 0660', description: 'A UNIX socket that a group may use'},
    {command: '<%= config.bin %> <%= command.id %> --config relay.yaml --idle-timeout 30s --max-connections 64', description: 'Close idle clients after 30 s; at most 64 connections'},
    {command: '<%= config.bin %> <%= command.id %> --config relay.yaml --metrics 9466', description: 'Prometheus metrics on http://127.0.0.1:9466/metrics, health on /healthz and /readyz'},
    {command: 'kill -HUP <pid>', description: 'Reload the config'},
    {command: '<%= config.bin %> <%= command.id %> --config relay.yaml --inspect 8082', description: 'With the inspector page on http://127.0.0.1:8082/: live requests, each in full, replay'},
  ]

  static override flags = {
    ...inspectOwnPortFlags,
    config: Flags.string({char: 'c', description: 'Relay config file (JSON, or YAML for .yaml/.yml).', required: true}),
    listen: addressFlag({...RELAY_LISTEN, default: DEFAULT_RELAY_ADDRESS, description: 'Where clients connect: TCP (port 0 picks a free one) or a UNIX socket.', unix: true}),
    'idle-timeout': durationFlag({default: DEFAULT_IDLE_TIMEOUT_MS, description: 'Close a connection with no request in flight after this long without a complete request line (0: never).'}),
    'log-format': logFormatFlag(),
    'max-connections': Flags.integer({default: DEFAULT_MAX_CONNECTIONS, description: 'Connections open at once; more are closed at once (the relay has no authentication: this is its MaxStartups).', min: 1}),
    metrics: metricsFlag(),
    'socket-mode': socketModeFlag({defaultHelp: async () => '0600', description: 'File mode of a UNIX socket (octal).'}),
  }

  async run(): Promise<{address: string} | undefined> {
    const {flags} = this
    const {runRelayStart} = await import('../../cli/relay-start.js')
    return runRelayStart({
      configPath: flags.config,
      idleTimeoutMs: flags['idle-timeout'],
      inspect: {address: flags.inspect, token: flags['inspect-token']},
      json: this.jsonEnabled(),
      listen: flags.listen,
      logFormat: flags['log-format'],
      maxConnections: flags['max-connections'],
      metrics: flags.metrics,
      socketMode: flags['socket-mode'],
    })
  }
}
