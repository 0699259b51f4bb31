import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {targetFlag} from '../../cli/targets.js'
import {addressFlag, dataFlag, durationFlag, persistFlag, positiveIntFlag} from '../../cli/flags.js'
import type {KorvCallOptions, KorvCallResult} from '../../cli/korv-call.js'
import {KORV_CALL_DEFAULT_USER, KORV_CALL_TO, KORV_CALL_TO_DEFAULT} from '../../cli/korv-call-argv.js'
import {DEFAULT_BATCH_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS} from '../../core/korv/defaults.js'

export default class KorvCall extends BaseCommand<typeof KorvCall> {
  static override summary = 'Call a korv server: one request, or a pipelined batch.'
  static override description = `Sends VERB PATH (GET, STORE, UPDATE, DELETE; POST, PUT and PATCH are accepted and sent as STORE/UPDATE) over SSH and prints the response body: pretty and coloured on a terminal, compact JSON when piped. --json prints the call envelope (ok, status, body, timing, target; docs/json-output.md), and each --batch answer is one such envelope per line.

The server's host key is checked against --known-hosts (default: the restwire home's known_hosts). An unknown key fails with its fingerprint and the command that trusts it; --accept-new trusts it on first use. Against a server on this machine, with no -i and no --known-hosts, the first use is trusted automatically (zero configuration). A changed key always fails.

--persist 60s keeps the connection in a background process, like OpenSSH's ControlPersist: later calls to the same target (address, user, keys, known_hosts) go through it, without a new SSH handshake, until 60 s pass without a call; --persist stop ends it. Its UNIX socket is in the restwire home's persist/ directory (0700), mode 0600. See docs/korv.md.

Exit codes: 0 for 2xx, 8 for 4xx, 9 for 5xx, 2 usage, 3 connection, 4 authentication, 5 unknown host key, 6 changed host key, 7 timeout, 10 key file. See docs/errors.md.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> GET /hello', description: 'Against `korv serve --demo` on this machine'},
    {command: `<%= config.bin %> <%= command.id %> STORE /users --data '{"name":"ada"}' --to api.example.com -i ~/.ssh/id_ed25519`, description: 'A body inline'},
    {command: '<%= config.bin %> <%= command.id %> UPDATE /users/7 --data @user.json', description: 'A body from a file (@- reads stdin)'},
    {command: '<%= config.bin %> <%= command.id %> --batch requests.ndjson', description: 'Many requests over one connection, one JSON envelope per answer (NDJSON)'},
    {command: '<%= config.bin %> <%= command.id %> --interactive', description: 'Prompt for verb, path and body'},
    {command: '<%= config.bin %> <%= command.id %> GET /hello -v', description: 'Trace the connection on stderr (address, cipher, host key fingerprint, key accepted, timings)'},
    {command: '<%= config.bin %> <%= command.id %> GET /hello --persist 60s', description: 'Keep the connection for later calls (ended after 60 s without one); the next calls to this target reuse it'},
    {command: '<%= config.bin %> <%= command.id %> --persist stop', description: 'End the kept connection to this target now'},
    {command: '<%= config.bin %> <%= command.id %> GET /users --target prod', description: 'Address, user, key and timeouts from the named target "prod" of config.yaml (see `restwire config show`)'},
  ]

  static override args = {
    verb: Args.string({description: 'GET, STORE, UPDATE or DELETE (POST/PUT/PATCH accepted).', ignoreStdin: true}),
    path: Args.string({description: 'Resource path, optionally with ?query.', ignoreStdin: true}),
  }

  static override flags = {
    'accept-new': Flags.boolean({description: 'Trust an unknown host key on first use and record it (a changed key still fails).'}),
    batch: Flags.string({description: 'NDJSON file of requests ({"verb","path","body","id"} per line), or - for stdin.', exclusive: ['data', 'interactive']}),
    concurrency: positiveIntFlag({default: DEFAULT_BATCH_CONCURRENCY, description: 'With --batch: requests in flight at once.'}),
    'connect-timeout': durationFlag({default: DEFAULT_CONNECT_TIMEOUT_MS, description: 'Time allowed for the TCP connection and SSH handshake.'}),
    data: dataFlag({char: 'd'}),
    identity: Flags.string({char: 'i', description: 'Private key file (repeatable); default: the restwire home client key.', multiple: true, multipleNonGreedy: true}),
    insecure: Flags.boolean({description: 'Do not verify the host key at all (unsafe; for throwaway test servers).', exclusive: ['accept-new']}),
    interactive: Flags.boolean({description: 'Prompt for verb, path and body (terminal only).'}),
    'known-hosts': Flags.string({description: 'OpenSSH known_hosts file to verify the server against.'}),
    persist: persistFlag({description: 'Keep the SSH connection in a background process for later calls to this target, until this long passes without one (60s, 10m...); or `stop` it. Calls find a kept connection without this flag.'}),
    target: targetFlag(),
    timeout: durationFlag({default: DEFAULT_REQUEST_TIMEOUT_MS, description: 'Time allowed for each response (30s, 500ms...).'}),
    to: addressFlag({...KORV_CALL_TO, default: KORV_CALL_TO_DEFAULT, description: 'The korv server to call (its --listen).'}),
    user: Flags.string({char: 'u', default: KORV_CALL_DEFAULT_USER, description: 'SSH user name (korv servers accept any).'}),
  }

  async run(): Promise<KorvCallResult | undefined> {
    const {runKorvCall} = await import('../../cli/korv-call.js')
    return runKorvCall(this.callOptions())
  }

  /** The parsed arguments as runKorvCall's options (the fast path's parser is tested against this). */
  callOptions(): KorvCallOptions {
    const {args, flags} = this
    return {
      acceptNew: flags['accept-new'],
      batch: flags.batch,
      concurrency: flags.concurrency,
      connectTimeoutMs: flags['connect-timeout'],
      data: flags.data,
      host: flags.to.host,
      identityPaths: flags.identity,
      insecure: flags.insecure,
      interactive: flags.interactive,
      json: this.jsonEnabled(),
      knownHostsPath: flags['known-hosts'],
      path: args.path,
      persist: flags.persist,
      port: flags.to.port,
      timeoutMs: flags.timeout,
      user: flags.user,
      verb: args.verb,
      verbose: flags.verbose,
    }
  }
}
