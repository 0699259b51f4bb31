import {BaseCommand} from '../../cli/base-command.js'
import {targetFlag} from '../../cli/targets.js'
import {durationFlag} from '../../cli/flags.js'
import type {GatewayNode} from '../../cli/tunnel-client.js'
import {gatewayToFlag, gatewayUrl} from '../../cli/tunnel-flags.js'
import {LOOPBACK_HOST} from '../../core/address.js'
import {DEFAULT_REQUEST_TIMEOUT_MS} from '../../core/duration.js'
import {DEFAULT_HTTP_API_PORT} from '../../core/tunnel/defaults.js'

export default class TunnelNodes extends BaseCommand<typeof TunnelNodes> {
  static override summary = 'List the nodes connected to a running tunnel gateway.'
  static override description = `Asks the gateway's local HTTP API (GET /nodes) for the connected nodes: a table on a terminal (id, key fingerprint, address, connected since, requests in flight), one compact JSON line per node when piped, a JSON array with --json.

Exit codes: 0, 3 when the gateway cannot be reached, 7 on timeout.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Against `restwire tunnel gateway` on this machine'},
    {command: '<%= config.bin %> <%= command.id %> --to 127.0.0.1:9090 --json', description: 'Another API address, as JSON'},
    {command: 'RESTWIRE_TARGET=edge <%= config.bin %> <%= command.id %>', description: 'The gateway of the named target "edge" of config.yaml'},
  ]

  static override flags = {
    target: targetFlag(),
    timeout: durationFlag({default: DEFAULT_REQUEST_TIMEOUT_MS, description: 'Time allowed for the answer.'}),
    to: gatewayToFlag({default: `http://${LOOPBACK_HOST}:${DEFAULT_HTTP_API_PORT}`, description: "The gateway's local HTTP API (its --http)."}),
  }

  async run(): Promise<GatewayNode[] | undefined> {
    const {flags} = this
    const {runTunnelNodes} = await import('../../cli/tunnel-client.js')
    return runTunnelNodes({gateway: gatewayUrl(flags.to), json: this.jsonEnabled(), timeoutMs: flags.timeout, verbose: flags.verbose})
  }
}
