import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {positiveIntFlag} from '../../cli/flags.js'
import type {KeysCertResult} from '../../cli/keys-cert.js'
import {DEFAULT_LEAF_DAYS, DEFAULT_TLS_RSA_BITS, TLS_KEY_TYPE_NAMES} from '../../core/keys/tls-ca.js'

export default class KeysCert extends BaseCommand<typeof KeysCert> {
  static override summary = 'Issue a TLS certificate and key for NAME, signed by the local CA in --ca DIR.'
  static override description = `Writes NAME.pem (the certificate, 0644) and NAME-key.pem (its PKCS#8 private key, 0600) to --dir (default: the CA directory). The certificate has subject CN=NAME and the subject alternative names NAME (a DNS name, or an IP address) and every --san, detected as DNS name, IPv4 or IPv6 address.

--server gives extendedKeyUsage serverAuth, --client clientAuth; neither or both gives both. basicConstraints CA:FALSE, keyUsage digitalSignature (+ keyEncipherment for RSA keys). The certificate is valid --days days, but never past the CA's own expiry.

NAME is also a file name: letters, digits, '.', '-' and '_', not starting with '.', not "ca" and not ending in "-key".

When --dir is another directory, ca.pem (never the CA key) is copied there too, so that directory alone is a complete identity for \`--ca DIR --name NAME\` on another machine.

An existing NAME.pem or NAME-key.pem is never replaced without --force.

Exit codes: 0 done, 1 internal error, 2 usage (bad NAME, --san, --days, --bits), 10 the CA files are missing, unreadable or not a usable CA, or a file exists (without --force) or cannot be written.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --name hub --server --san hub.example.com --san 203.0.113.7', description: 'A hub (server) certificate reachable by a DNS name and an address'},
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --name fileserver --client --dir ./fileserver-id', description: 'A node identity in its own directory (with a copy of ca.pem), to carry to the node'},
    {command: '<%= config.bin %> <%= command.id %> --ca ./pki --name api --type rsa --bits 3072 --days 90 --json', description: 'An RSA certificate for both roles, valid 90 days, as JSON'},
  ]

  static override flags = {
    bits: positiveIntFlag({char: 'b', description: `Key size: ECDSA 256 (default) or 384; RSA ${DEFAULT_TLS_RSA_BITS} (default), 3072 or 4096.`}),
    ca: Flags.string({description: 'The CA directory (ca.pem and ca-key.pem, made by restwire keys ca).', helpValue: 'DIR', required: true}),
    client: Flags.boolean({description: 'A client certificate (extendedKeyUsage clientAuth).'}),
    days: positiveIntFlag({default: DEFAULT_LEAF_DAYS, description: 'Days the certificate is valid.'}),
    dir: Flags.string({description: 'Where to write NAME.pem and NAME-key.pem (default: the CA directory).', helpValue: 'DIR'}),
    force: Flags.boolean({description: 'Overwrite NAME.pem and NAME-key.pem.'}),
    name: Flags.string({description: 'The identity name: subject CN, first subject alternative name and file name.', helpValue: 'NAME', required: true}),
    san: Flags.string({delimiter: ',', description: 'Another name the certificate is valid for: DNS name or IP address (repeatable).', helpValue: 'NAME-OR-IP', multiple: true, multipleNonGreedy: true}),
    server: Flags.boolean({description: 'A server certificate (extendedKeyUsage serverAuth).'}),
    type: Flags.option({char: 't', default: 'ecdsa' as const, description: 'Key type.', options: TLS_KEY_TYPE_NAMES})(),
  }

  async run(): Promise<KeysCertResult> {
    const {flags} = this
    const {runKeysCert} = await import('../../cli/keys-cert.js')
    return runKeysCert({
      bits: flags.bits,
      ca: flags.ca,
      client: flags.client,
      days: flags.days,
      force: flags.force,
      json: this.jsonEnabled(),
      name: flags.name,
      out: flags.dir,
      sans: flags.san,
      server: flags.server,
      type: flags.type,
    })
  }
}
