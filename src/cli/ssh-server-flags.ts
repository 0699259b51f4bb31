// The flags of the commands that run restwire's SSH server side (korv serve, tunnel expose): keys, where
// the routes come from, the handler timeout and the log. One definition; each command names its own
// peers, demo routes and protocol page.
import * as Flags from '@oclif/core/flags'
import {DEFAULT_HANDLER_TIMEOUT_MS} from '../core/message/invoke.js'
import {durationFlag, logFormatFlag} from './flags.js'

export interface SshServerFlagWording {
  /** Whose keys the authorized_keys file lists: "client keys allowed in". */
  authorizedPeers: string
  /** Who would see a stack trace in a 500 body: "clients". */
  callers: string
  /** The demo routes: "GET /hello, GET /echo". */
  demoRoutes: string
  /** What the log on stderr holds: "Request log". */
  log: string
  /** The page that documents the routes module: "docs/korv.md". */
  routesDoc: string
  /** How --upstream maps requests, after "Forward every request to this HTTP base URL". */
  upstream: string
}

export function sshServerFlags(wording: SshServerFlagWording) {
  return {
    'authorized-keys': Flags.string({description: `OpenSSH authorized_keys file of the ${wording.authorizedPeers} (re-read when it changes).`}),
    demo: Flags.boolean({description: `Serve the demo routes: ${wording.demoRoutes}.`, exclusive: ['routes', 'upstream']}),
    'handler-timeout': durationFlag({default: DEFAULT_HANDLER_TIMEOUT_MS, description: 'A handler running longer is answered 504.'}),
    'host-key': Flags.string({description: 'Host private key file (repeatable).', multiple: true, multipleNonGreedy: true}),
    'log-format': logFormatFlag(`${wording.log} format on stderr.`),
    routes: Flags.string({description: `JS or TS module exporting routes (see ${wording.routesDoc}).`, exclusive: ['upstream', 'demo']}),
    tracebacks: Flags.boolean({allowNo: true, description: `Include the stack trace in 500 bodies (off by default: it shows ${wording.callers} your code; --demo turns it on).`}),
    upstream: Flags.string({description: `Forward every request to this HTTP base URL (${wording.upstream}).`, exclusive: ['routes', 'demo']}),
  }
}
