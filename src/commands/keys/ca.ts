import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {positiveIntFlag} from '../../cli/flags.js'
import type {KeysCaResult} from '../../cli/keys-ca.js'
import {DEFAULT_CA_COMMON_NAME, DEFAULT_CA_DAYS, DEFAULT_LEAF_DAYS, DEFAULT_TLS_RSA_BITS, TLS_KEY_TYPE_NAMES} from '../../core/keys/tls-ca.js'

export default class KeysCa extends BaseCommand<typeof KeysCa> {
  static override summary = 'Create a local certificate authority for mutual TLS (and, with --quickstart, a hub and node identities).'
  static override description = `Writes the CA certificate to DIR/ca.pem (mode 0644) and its private key to DIR/ca-key.pem (PKCS#8 PEM, 0600), creating DIR 0700 if missing. The CA is self-signed, CA:TRUE with pathlen 0, keyCertSign and cRLSign; ECDSA P-256 by default, RSA with --type rsa.

Then \`restwire keys cert --ca DIR --name NAME\` adds identities to DIR, and \`restwire pipe serve\` / \`pipe connect\` take \`--ca DIR --name NAME\`.

--quickstart also makes, in the same DIR, a hub identity (hub.pem, hub-key.pem: serverAuth and clientAuth, names localhost, 127.0.0.1, ::1, the hub name and every --san) and node identities (node1.pem, node1-key.pem: clientAuth), valid ${DEFAULT_LEAF_DAYS} days.

An existing file is never replaced without --force; all files are checked before anything is generated.

Exit codes: 0 done, 1 internal error, 2 usage (bad name, --san, --days, --bits), 10 a file exists (without --force) or cannot be written.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --dir ./pki', description: 'A CA in ./pki (ca.pem, ca-key.pem)'},
    {command: '<%= config.bin %> <%= command.id %> --dir ./pki --quickstart', description: 'Quick start: CA, hub and node1 identities in ./pki'},
    {command: '<%= config.bin %> <%= command.id %> --dir ./pki --quickstart --hub web --san web.example.com --node fileserver --node backup', description: 'Quick start with chosen names; the hub also answers as web.example.com'},
    {command: '<%= config.bin %> <%= command.id %> --dir ./pki --type rsa --bits 4096 --common-name "Acme pipe CA" --days 1825 --json', description: 'An RSA CA with its own name, as JSON'},
  ]

  static override flags = {
    bits: positiveIntFlag({char: 'b', description: `Key size: ECDSA 256 (default) or 384; RSA ${DEFAULT_TLS_RSA_BITS} (default), 3072 or 4096.`}),
    'common-name': Flags.string({default: DEFAULT_CA_COMMON_NAME, description: "The CA's common name (its subject CN)."}),
    days: positiveIntFlag({default: DEFAULT_CA_DAYS, description: 'Days the CA certificate is valid.'}),
    force: Flags.boolean({description: 'Overwrite existing files.'}),
    hub: Flags.string({dependsOn: ['quickstart'], description: 'With --quickstart: the hub identity name (default hub).', helpValue: 'NAME'}),
    node: Flags.string({dependsOn: ['quickstart'], description: 'With --quickstart: a node identity name (repeatable; default node1).', helpValue: 'NAME', multiple: true, multipleNonGreedy: true}),
    dir: Flags.string({description: 'The directory for ca.pem and ca-key.pem.', helpValue: 'DIR', required: true}),
    quickstart: Flags.boolean({description: 'Also make a hub and node identities signed by the new CA.'}),
    san: Flags.string({delimiter: ',', dependsOn: ['quickstart'], description: 'With --quickstart: another name for the hub, DNS name or IP address (repeatable).', helpValue: 'NAME-OR-IP', multiple: true, multipleNonGreedy: true}),
    type: Flags.option({char: 't', default: 'ecdsa' as const, description: 'Key type (of every key made).', options: TLS_KEY_TYPE_NAMES})(),
  }

  async run(): Promise<KeysCaResult> {
    const {flags} = this
    const {runKeysCa} = await import('../../cli/keys-ca.js')
    return runKeysCa({
      bits: flags.bits,
      commonName: flags['common-name'],
      days: flags.days,
      force: flags.force,
      hub: flags.hub,
      json: this.jsonEnabled(),
      nodes: flags.node,
      out: flags.dir,
      quickstart: flags.quickstart,
      sans: flags.san,
      type: flags.type,
    })
  }
}
