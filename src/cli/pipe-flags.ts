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

/** `pipe serve --cluster`: the NATS servers and how to log in to them. */
export const clusterFlags = {
  cluster: Flags.string({
    description: 'Join a cluster of hubs through this NATS server (nats://HOST:PORT or tls://HOST:PORT); repeat it or separate by commas. Without it, no NATS is used.',
    helpGroup: 'CLUSTER',
    multiple: true,
    multipleNonGreedy: true,
  }),
  'cluster-hub': Flags.string({description: 'This hub\'s name in the cluster (GET /nodes, the logs). Default: HOSTNAME-PID.', helpGroup: 'CLUSTER'}),
  'cluster-name': Flags.string({default: 'restwire', description: 'Hubs of the same cluster name serve the same pipe (letters, digits, - and _).', helpGroup: 'CLUSTER'}),
  'nats-ca': Flags.string({description: 'CA certificate (PEM) to trust for TLS to the NATS servers.', helpGroup: 'CLUSTER'}),
  'nats-cert': Flags.string({description: 'Client certificate (PEM) for NATS servers that require one (with --nats-key).', helpGroup: 'CLUSTER'}),
  'nats-creds': Flags.string({description: 'NATS credentials file (.creds: JWT and NKey seed).', helpGroup: 'CLUSTER'}),
  'nats-key': Flags.string({description: 'Private key (PEM) of --nats-cert.', helpGroup: 'CLUSTER'}),
  'nats-pass': Flags.string({description: 'NATS password (with --nats-user); better from the environment.', env: 'RESTWIRE_NATS_PASS', helpGroup: 'CLUSTER'}),
  'nats-token': Flags.string({description: 'NATS authentication token; better from the environment.', env: 'RESTWIRE_NATS_TOKEN', helpGroup: 'CLUSTER'}),
  'nats-user': Flags.string({description: 'NATS user name.', helpGroup: 'CLUSTER'}),
}
