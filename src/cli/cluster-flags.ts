// `--cluster` and the NATS options, shared by `pipe serve` and `tunnel gateway` (docs/cluster.md):
// the flags, the options they make, and the log of the cluster's state. The NATS client itself is
// loaded by src/core/cluster only when --cluster is given.
import {hostname} from 'node:os'
import * as Flags from '@oclif/core/flags'
import type {ClusterOptions, ClusterState} from '../core/cluster/nats-link.js'
import {type LogFormat, writeEventLog} from './request-log.js'

export const clusterFlags = {
  cluster: Flags.string({
    description: 'Join a cluster through this NATS server (nats://HOST:PORT or tls://HOST:PORT); repeat it or separate by commas. Without it, no NATS is used.',
    helpGroup: 'CLUSTER',
    multiple: true,
    multipleNonGreedy: true,
  }),
  'cluster-hub': Flags.string({description: 'This hub\'s (or gateway\'s) name in the cluster (GET /nodes, the logs). Default: HOSTNAME-PID.', helpGroup: 'CLUSTER'}),
  'cluster-name': Flags.string({default: 'restwire', description: 'Members of the same cluster name serve the same nodes (letters, digits, - and _).', helpGroup: 'CLUSTER'}),
  'nats-ca': Flags.string({description: 'CA certificate (PEM) to trust for TLS to the NATS servers.', helpGroup: 'CLUSTER'}),
  'nats-cert': Flags.string({description: 'Client certificate (PEM) for NATS servers that require one (with --nats-key).', helpGroup: 'CLUSTER'}),
  'nats-creds': Flags.string({description: 'NATS credentials file (.creds: JWT and NKey seed).', helpGroup: 'CLUSTER'}),
  'nats-key': Flags.string({description: 'Private key (PEM) of --nats-cert.', helpGroup: 'CLUSTER'}),
  'nats-pass': Flags.string({description: 'NATS password (with --nats-user); better from the environment.', env: 'RESTWIRE_NATS_PASS', helpGroup: 'CLUSTER'}),
  'nats-token': Flags.string({description: 'NATS authentication token; better from the environment.', env: 'RESTWIRE_NATS_TOKEN', helpGroup: 'CLUSTER'}),
  'nats-user': Flags.string({description: 'NATS user name.', helpGroup: 'CLUSTER'}),
}

type ClusterFlagValues = {cluster?: string[]; 'cluster-hub'?: string; 'cluster-name': string} & Partial<Record<`nats-${'ca' | 'cert' | 'creds' | 'key' | 'pass' | 'token' | 'user'}`, string>>

/** The cluster options of the flags; undefined without --cluster. */
export function clusterOptions(flags: ClusterFlagValues): ClusterOptions | undefined {
  const servers = (flags.cluster ?? []).flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean)
  if (servers.length === 0) return undefined
  return {
    credsFile: flags['nats-creds'],
    hubName: flags['cluster-hub'],
    name: flags['cluster-name'],
    pass: flags['nats-pass'],
    servers,
    tls: flags['nats-ca'] || flags['nats-cert'] ? {caFile: flags['nats-ca'], certFile: flags['nats-cert'], keyFile: flags['nats-key']} : undefined,
    token: flags['nats-token'],
    user: flags['nats-user'],
  }
}

/** The options to join with: a default member name, and the cluster's state changes logged. */
export function clusterJoinOptions(
  options: ClusterOptions,
  logFormat: LogFormat,
  served: string,
): ClusterOptions & {onState: (state: ClusterState, detail: string) => void; onProblem: (problem: string) => void} {
  return {
    ...options,
    hubName: options.hubName ?? `${hostname()}-${process.pid}`,
    onProblem: (problem) => writeEventLog({detail: problem, event: 'cluster message refused'}, logFormat),
    onState: (state, detail) => writeEventLog({detail, event: state === 'degraded' ? `cluster degraded: serving ${served} only` : 'cluster rejoined'}, logFormat),
  }
}
