import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {targetFlag} from '../../cli/targets.js'
import {addressFlag, dataFlag, durationFlag} from '../../cli/flags.js'
import {paramsFlag} from '../../cli/relay-flags.js'
import {DEFAULT_REQUEST_TIMEOUT_MS} from '../../core/duration.js'
import type {CallEnvelope} from '../../cli/envelope.js'
import {DEFAULT_RELAY_ADDRESS, RELAY_TO} from '../../core/relay/address.js'

export default class RelaySend extends BaseCommand<typeof RelaySend> {
  static override summary = 'Send one named request to a running relay and print its final reply.'
  static override description = `Connects to a relay started with \`restwire relay start\` (--to), sends {"request": NAME, "id": 1, "params": ..., "data": ...} and prints the final reply: pretty and coloured on a terminal, one JSON line when piped; --json prints the call envelope instead (ok, status: the upstream's HTTP status, headers, body: the response, timing, target, and relay: id, reply, time; docs/json-output.md).

Without NAME on a terminal it asks for it: a list of --config's requests (then each placeholder and the body not given, as --interactive does), or typed in without --config. Without a terminal a missing NAME is a usage error. An unknown NAME is answered with the names the relay knows.

Exit codes: 0 ok; 2 usage, or the relay rejected the line (unknown name, missing placeholder); 3 relay unreachable or the connection closed; 7 timeout (here or the request's own on the relay); 8 unexpected HTTP status below 500; 9 HTTP status 500 or more; 11 line too long; 13 upstream unreachable, certificate not trusted or response too large; 130 interrupted. See docs/relay.md.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> user --params user_id=7', description: 'GET the "user" request of the relay on tcp://127.0.0.1:9876'},
    {command: `<%= config.bin %> <%= command.id %> create_user --data '{"name":"ada"}' --to unix:/run/restwire/relay.sock`, description: 'A body, over a UNIX socket'},
    {command: '<%= config.bin %> <%= command.id %> user --params @params.json', description: 'Params from a JSON file'},
    {command: '<%= config.bin %> <%= command.id %> user -p user_id=7 --target prod', description: 'The relay address and timeout of the named target "prod" of config.yaml'},
    {command: '<%= config.bin %> <%= command.id %> --interactive --config relay.yaml', description: 'Pick the request and fill in its placeholders'},
    {command: '<%= config.bin %> <%= command.id %> user -p user_id=7 --color never', description: 'Pretty-printed on a terminal, without colour (as with NO_COLOR=1)'},
    {command: '<%= config.bin %> <%= command.id %> user -p user_id=7 -v', description: 'Trace the exchange on stderr: address, the line sent (params as sizes), dispatched and final lines, timings'},
  ]

  static override args = {
    name: Args.string({description: 'Request name from the relay config.', ignoreStdin: true}),
  }

  static override flags = {
    config: Flags.string({char: 'c', description: 'Relay config file, for --interactive and the NAME prompt (secrets need not be set).'}),
    data: dataFlag({char: 'd'}),
    interactive: Flags.boolean({description: 'Pick the request and fill its placeholders from --config (terminal only).'}),
    params: paramsFlag({char: 'p'}),
    target: targetFlag(),
    timeout: durationFlag({default: DEFAULT_REQUEST_TIMEOUT_MS, description: 'Time allowed for the final reply.'}),
    to: addressFlag({...RELAY_TO, default: DEFAULT_RELAY_ADDRESS, deprecatedAliases: ['connect'], description: 'The relay (its --listen): TCP or a UNIX socket.', unix: true}),
  }

  async run(): Promise<CallEnvelope | undefined> {
    const {args, flags} = this
    const {runRelaySend} = await import('../../cli/relay-send.js')
    return runRelaySend({
      configPath: flags.config,
      connect: flags.to,
      data: flags.data,
      interactive: flags.interactive,
      json: this.jsonEnabled(),
      name: args.name,
      params: flags.params,
      timeoutMs: flags.timeout,
      verbose: flags.verbose,
    })
  }
}
