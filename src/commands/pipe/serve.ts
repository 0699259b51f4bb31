import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {durationFlag, hostFlag, portFlag, positiveIntFlag} from '../../cli/flags.js'
import {handlerFlags, httpAddressFlag, identityFlags, timingFlags} from '../../cli/pipe-flags.js'
import type {PipeServeResult} from '../../cli/pipe-serve.js'

export default class PipeServe extends BaseCommand<typeof PipeServe> {
  static override summary = 'Run the pipe hub: nodes dial in over mutual TLS; call them through a local HTTP gateway.'
  static override description = `Listens on TLS (--host, --port) and accepts nodes whose client certificate is signed by the pipe CA; a node is named by its certificate (CN). A newer connection under the same name replaces the older one. Heartbeats run both ways; a node silent for 3 heartbeats is dropped and its events in flight fail with 503.

The identity comes from an identity directory (--ca DIR with ca.pem, NAME.pem, NAME-key.pem; --name defaults to "hub"), or from --cert, --key and --ca-file.

The local HTTP gateway (--http, loopback by default; it has no authentication of its own): METHOD /client/<node>/<noun>[//arg/arg] sends an event to that node and streams the reply back, with the event's return code in X-Event-Return-Code (0 ok, 251 handler raised, 255 no handler); GET /nodes lists the connected nodes. Unknown node 404; a known node that is away is waited for (up to 5s), then 503; no reply within --timeout 504.

Events sent by nodes are answered by --handlers (functions named verb_noun, RestPipe style), --serve-dir (GET file//PATH, read-only), the built-in examples (GET time, GET cat//a/b) and --upstream, tried in that order.

A connection must finish TLS and send its HELLO within --login-grace of the TCP accept, else it is closed; at most --max-startups connections may be at that stage at once (more are refused at once; connected nodes never count).

Every state change is logged on stderr. SIGINT or SIGTERM closes the gateway and the node connections and exits 0.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --host 0.0.0.0', description: 'Hub on every interface, port 7443; gateway on http://127.0.0.1:8090'},
    {command: 'curl http://127.0.0.1:8090/client/fileserver/file//reports/q3.pdf -o q3.pdf', description: 'Fetch a file from node "fileserver" (started with --serve-dir)'},
    {command: 'curl http://127.0.0.1:8090/nodes', description: 'List the connected nodes'},
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --handlers ./hub-handlers.js --upstream http://127.0.0.1:3000', description: 'Answer node events with your functions, then a local HTTP service'},
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --host 0.0.0.0 --login-grace 10s --max-startups 50', description: 'On a public address: close connections without a HELLO after 10s, at most 50 at once'},
  ]

  static override flags = {
    ...identityFlags,
    ...handlerFlags,
    ...timingFlags,
    host: hostFlag({default: '127.0.0.1', description: 'Address to listen on for nodes (0.0.0.0 for every interface).'}),
    'login-grace': durationFlag({default: 30_000, description: 'A connection must finish TLS and send its HELLO within this time of the TCP accept, else it is closed.'}),
    'max-startups': positiveIntFlag({default: 100, description: 'Connections allowed between TCP accept and HELLO at once; more are refused at once (connected nodes never count).'}),
    http: httpAddressFlag({default: {host: '127.0.0.1', port: 8090}, defaultHelp: async () => '127.0.0.1:8090', description: 'HOST:PORT of the local HTTP gateway (port 0 picks a free one).'}),
    name: Flags.string({default: 'hub', description: 'This hub\'s name in the identity directory (NAME.pem, NAME-key.pem).', helpGroup: 'IDENTITY'}),
    port: portFlag({char: 'p', default: 7443, description: 'TLS port nodes dial.'}),
  }

  async run(): Promise<PipeServeResult | undefined> {
    const {flags} = this
    const {runPipeServe} = await import('../../cli/pipe-serve.js')
    return runPipeServe({
      handlers: {builtins: flags.builtins, handlersFile: flags.handlers, serveDir: flags['serve-dir'], upstream: flags.upstream},
      heartbeatMs: flags.heartbeat,
      host: flags.host,
      http: flags.http,
      identity: {caFile: flags['ca-file'], certFile: flags.cert, dir: flags.ca, keyFile: flags.key, name: flags.name},
      json: this.jsonEnabled(),
      logFormat: flags['log-format'],
      loginGraceMs: flags['login-grace'],
      maxStartups: flags['max-startups'],
      port: flags.port,
      timeoutMs: flags.timeout,
    })
  }
}
