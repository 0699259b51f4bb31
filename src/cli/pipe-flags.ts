// Flags shared by `pipe serve` and `pipe connect`: the TLS identity, handler sources, timing.
import * as Flags from '@oclif/core/flags'
import {DEFAULT_EVENT_TIMEOUT_MS, DEFAULT_HEARTBEAT_MS} from '../core/pipe/defaults.js'
import {durationFlag, logFormatFlag} from './flags.js'

export const identityFlags = {
  ca: Flags.string({description: 'Identity directory: ca.pem, NAME.pem and NAME-key.pem (see `restwire keys ca`).', helpGroup: 'IDENTITY'}),
  'ca-file': Flags.string({description: 'CA certificate (PEM), instead of DIR/ca.pem.', helpGroup: 'IDENTITY'}),
  cert: Flags.string({description: 'This side\'s certificate (PEM), instead of DIR/NAME.pem.', helpGroup: 'IDENTITY'}),
  key: Flags.string({description: 'This side\'s private key (PEM), instead of DIR/NAME-key.pem.', helpGroup: 'IDENTITY'}),
}

export const handlerFlags = {
  builtins: Flags.boolean({allowNo: true, default: true, description: 'Answer the built-in examples GET time and GET cat//a/b (--no-builtins turns them off).', helpGroup: 'HANDLERS'}),
  handlers: Flags.string({description: 'JS or TS module of handler functions named verb_noun (get_time_utc), RestPipe style.', helpGroup: 'HANDLERS'}),
  'serve-dir': Flags.string({description: 'Serve the files under DIR, read-only, as GET file//PATH.', helpGroup: 'HANDLERS'}),
  upstream: Flags.string({description: 'Forward every other event to this HTTP base URL (METHOD URL/noun/args).', helpGroup: 'HANDLERS'}),
}

export const timingFlags = {
  heartbeat: durationFlag({default: DEFAULT_HEARTBEAT_MS, description: 'Interval of heartbeats; a peer silent for 3 intervals is dropped.'}),
  'log-format': logFormatFlag(),
  timeout: durationFlag({default: DEFAULT_EVENT_TIMEOUT_MS, description: 'Bound on the time until an event sent through the gateway is answered; then 504.'}),
}
