import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {targetFlag} from '../../cli/targets.js'
import {dataFlag, durationFlag} from '../../cli/flags.js'
import type {PipeCallResult} from '../../cli/pipe-call.js'
import {gatewayToFlag, gatewayUrl} from '../../cli/tunnel-flags.js'
import {LOOPBACK_HOST} from '../../core/address.js'
import {DEFAULT_REQUEST_TIMEOUT_MS} from '../../core/duration.js'
import {DEFAULT_HUB_HTTP_PORT} from '../../core/pipe/defaults.js'

export default class PipeCall extends BaseCommand<typeof PipeCall> {
  static override summary = 'Send one event through a running pipe gateway (hub or node), for scripts and CI.'
  static override description = `Sends VERB PATH to the local HTTP gateway of \`restwire pipe serve\` (PATH /client/<node>/<noun>[//args]) or \`restwire pipe connect\` (PATH /server/<noun>[//args]) and writes the reply body to stdout as it arrives (binary-safe; JSON pretty and coloured on a terminal; on a terminal a final newline is added when the body has none), or to --output FILE. --json prints the call envelope (ok, HTTP status, headers, body, timing, target, and pipe.code the event return code; a binary body as base64, or only its size with --output; docs/json-output.md).

--data takes inline JSON (sent as application/json), @FILE or @- (stdin), sent byte for byte and streamed; --content-type overrides the type. When stderr is a terminal, --output FILE and --data @FILE transfers show a progress line (bytes, rate, and for an upload its size and ETA); never when stderr is not a terminal. With no VERB and PATH on a terminal, or with --interactive, it prompts for them and for a JSON body (never when stdin is not a terminal).

Exit codes: 0 when the event returned code 0; 8 for 404 (unknown node) or a handler's refusal (255 no handler, or another non-zero code); 9 for 503 (not connected), 504 (no reply in time) or 251 (handler raised); 2 usage, 3 gateway unreachable, 7 timeout. See docs/errors.md.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> GET /client/node-1/time', description: 'Against `restwire pipe serve` on this machine (gateway http://127.0.0.1:8090)'},
    {command: '<%= config.bin %> <%= command.id %> GET /client/fileserver/file//reports/q3.pdf --output q3.pdf', description: 'Fetch a file through the pipe (a progress line on a terminal)'},
    {command: '<%= config.bin %> <%= command.id %> POST /server/upload//q3.pdf --data @q3.pdf --to 8091', description: 'From a node to the hub, a file as the body'},
    {command: '<%= config.bin %> <%= command.id %> GET /client/node-1/time -v', description: 'Trace the HTTP exchange on stderr, like curl -v (bodies as sizes, credentials masked)'},
  ]

  static override args = {
    verb: Args.string({description: 'The event verb: GET, POST, PUT, DELETE...', ignoreStdin: true}),
    path: Args.string({description: 'Gateway path: /client/<node>/<noun>[//args] (hub) or /server/<noun>[//args] (node).', ignoreStdin: true}),
  }

  static override flags = {
    'content-type': Flags.string({description: 'Content type of the body (default: application/json for inline --data, else application/octet-stream).'}),
    data: dataFlag({char: 'd', description: 'Event body: JSON text, @FILE (sent as is) or @- (stdin).'}),
    interactive: Flags.boolean({description: 'Prompt for verb, path and body (terminal only).'}),
    output: Flags.string({char: 'o', description: 'Write the reply body to this file instead of stdout.', helpValue: 'FILE'}),
    target: targetFlag(),
    timeout: durationFlag({default: DEFAULT_REQUEST_TIMEOUT_MS, description: 'Time allowed for the reply to start.'}),
    to: gatewayToFlag({default: `http://${LOOPBACK_HOST}:${DEFAULT_HUB_HTTP_PORT}`, description: 'The local pipe gateway (its --http: the hub 8090, a node 8091 by default).'}),
  }

  async run(): Promise<PipeCallResult | undefined> {
    const {args, flags} = this
    const {runPipeCall} = await import('../../cli/pipe-call.js')
    return runPipeCall({
      contentType: flags['content-type'],
      data: flags.data,
      gateway: gatewayUrl(flags.to),
      interactive: flags.interactive,
      json: this.jsonEnabled(),
      output: flags.output,
      path: args.path,
      timeoutMs: flags.timeout,
      verb: args.verb,
      verbose: flags.verbose,
    })
  }
}
