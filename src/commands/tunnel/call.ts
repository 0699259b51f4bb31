import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {targetFlag} from '../../cli/targets.js'
import {dataFlag, durationFlag} from '../../cli/flags.js'
import type {TunnelCallResult} from '../../cli/tunnel-client.js'
import {gatewayToFlag, gatewayUrl} from '../../cli/tunnel-flags.js'
import {LOOPBACK_HOST} from '../../core/address.js'
import {DEFAULT_REQUEST_TIMEOUT_MS} from '../../core/duration.js'
import {DEFAULT_HTTP_API_PORT} from '../../core/tunnel/defaults.js'

export default class TunnelCall extends BaseCommand<typeof TunnelCall> {
  static override summary = 'Call a route of a tunnel node through a running gateway.'
  static override description = `Sends VERB PATH (GET, POST, PATCH, DELETE; UPDATE is sent as PATCH) to node NODE through the gateway's local HTTP API (METHOD /nodes/NODE/PATH, query kept) and prints the response body: pretty and coloured on a terminal, compact JSON when piped. --json prints the call envelope (ok, status, headers, body, timing, target; docs/json-output.md).

STREAM PATH prints every item as one NDJSON line as it arrives (with --json, one envelope per item); Ctrl-C aborts the request, the gateway cancels the stream on the node, and the command exits 130.

Exit codes: 0 for 2xx, 8 for 4xx (404: unknown node or route), 9 for 5xx (503: node gone, 504: node timeout), 2 usage, 3 gateway unreachable, 7 timeout, 130 interrupted. See docs/errors.md.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> node-AbC123 GET /home', description: 'Against `restwire tunnel gateway` on this machine'},
    {command: `<%= config.bin %> <%= command.id %> api-1 POST /create --data '{"name":"ada"}'`, description: 'A body inline (@file reads a file, @- stdin)'},
    {command: '<%= config.bin %> <%= command.id %> api-1 STREAM /stream', description: 'Items as NDJSON lines as they arrive'},
    {command: '<%= config.bin %> <%= command.id %> api-1 GET /home -v', description: 'Trace the HTTP exchange with the gateway on stderr, like curl -v'},
  ]

  static override args = {
    node: Args.string({description: 'Node id (see `restwire tunnel nodes`).', ignoreStdin: true}),
    verb: Args.string({description: 'GET, POST, PATCH, DELETE or STREAM (UPDATE accepted).', ignoreStdin: true}),
    path: Args.string({description: 'Route path, optionally with ?query.', ignoreStdin: true}),
  }

  static override flags = {
    data: dataFlag({char: 'd'}),
    interactive: Flags.boolean({description: 'Prompt for verb, path and body (terminal only).'}),
    target: targetFlag(),
    timeout: durationFlag({default: DEFAULT_REQUEST_TIMEOUT_MS, description: 'Time allowed for the response (for STREAM: for its start).'}),
    to: gatewayToFlag({default: `http://${LOOPBACK_HOST}:${DEFAULT_HTTP_API_PORT}`, description: "The gateway's local HTTP API (its --http)."}),
  }

  async run(): Promise<TunnelCallResult | undefined> {
    const {args, flags} = this
    const {runTunnelCall} = await import('../../cli/tunnel-client.js')
    return runTunnelCall({
      data: flags.data,
      gateway: gatewayUrl(flags.to),
      interactive: flags.interactive,
      json: this.jsonEnabled(),
      node: args.node,
      path: args.path,
      timeoutMs: flags.timeout,
      verb: args.verb,
      verbose: flags.verbose,
    })
  }
}
