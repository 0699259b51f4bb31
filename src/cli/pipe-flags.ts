// Flags shared by `pipe serve` and `pipe connect`: the TLS identity, handler sources, timing, gateway.
import * as Flags from '@oclif/core/flags'
import {RestwireError} from '../core/errors.js'
import {durationFlag} from './flags.js'

/** `HOST:PORT` (`[::1]:8090` for IPv6); port 0 picks a free one. */
export const httpAddressFlag = Flags.custom<{host: string; port: number}>({
  async parse(input, _context, options) {
    const match = /^(?:\[([^\]]+)\]|([^:\s[\]]+)):(\d+)$/.exec(input.trim())
    const port = Number(match?.[3])
    if (!match || port > 65_535) throw new RestwireError('RW_ERR_USAGE', `--${options.name} takes HOST:PORT, e.g. 127.0.0.1:8090, got "${input}"`)
    return {host: match[1] ?? match[2]!, port}
  },
})

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
  heartbeat: durationFlag({default: 5000, description: 'Interval of heartbeats; a peer silent for 3 intervals is dropped.'}),
  'log-format': Flags.option({default: 'text', description: 'Log format on stderr.', options: ['text', 'json'] as const})(),
  timeout: durationFlag({char: 't', default: 30_000, description: 'Bound on the time until an event sent through the gateway is answered; then 504.'}),
}
