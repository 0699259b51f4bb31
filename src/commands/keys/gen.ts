import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import {positiveIntFlag} from '../../cli/flags.js'
import type {KeysGenResult} from '../../cli/keys-gen.js'
import {DEFAULT_RSA_BITS, SSH_KEY_TYPE_NAMES} from '../../core/keys/ssh-key-pair.js'

export default class KeysGen extends BaseCommand<typeof KeysGen> {
  static override summary = 'Generate an SSH key pair (OpenSSH format, like ssh-keygen).'
  static override description = `Writes the private key to --file (mode 0600) and the public key to --file.pub (0644), creating missing directories 0700. Both files are in OpenSSH format: ssh-keygen, ssh and sshd read them, and restwire reads keys made by ssh-keygen.

Without --file the key goes to the restwire home ($RESTWIRE_HOME, else $XDG_CONFIG_HOME/restwire or ~/.config/restwire) as id_ed25519, id_rsa or id_ecdsa. An existing file is never replaced without --force. Replacing the home's client key (id_ed25519) keeps it authorized for local servers: when the home's authorized_keys authorized the old key, the new one is added there too.

The private key is unencrypted unless --passphrase (asks twice on a terminal) or --passphrase-env NAME (reads the environment variable NAME) gives a passphrase. --authorize FILE also adds the public key to an authorized_keys file, once.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'An ed25519 key in the restwire home'},
    {command: '<%= config.bin %> <%= command.id %> -t rsa -b 4096 -f ./deploy_key -C "deploy bot"', description: 'A 4096-bit RSA key with a comment'},
    {command: 'KEY_PASS=s3cret <%= config.bin %> <%= command.id %> -f ./ci_key --passphrase-env KEY_PASS', description: 'An encrypted key, the passphrase from the environment'},
    {command: '<%= config.bin %> <%= command.id %> -f ./client_key --authorize ./authorized_keys --json', description: 'Make a key, authorize it for a server, print the result as JSON'},
  ]

  static override flags = {
    authorize: Flags.string({description: 'Also add the public key to this authorized_keys file (created 0600 if missing).', helpValue: 'FILE'}),
    bits: positiveIntFlag({char: 'b', description: `Key size: RSA 1024-16384 (default ${DEFAULT_RSA_BITS}); ECDSA 256, 384 or 521 (default 256); ed25519 is fixed.`}),
    comment: Flags.string({char: 'C', description: 'Comment at the end of the public key line (default: user@host).'}),
    file: Flags.string({char: 'f', description: 'Private key path; the public key goes to PATH.pub.', helpValue: 'PATH'}),
    force: Flags.boolean({description: 'Overwrite an existing key file and its .pub.'}),
    passphrase: Flags.boolean({description: 'Encrypt the private key with a passphrase asked for on the terminal (twice).', exclusive: ['passphrase-env']}),
    'passphrase-env': Flags.string({description: 'Encrypt the private key with the passphrase in this environment variable.', helpValue: 'NAME', exclusive: ['passphrase']}),
    type: Flags.option({char: 't', default: 'ed25519' as const, description: 'Key type.', options: SSH_KEY_TYPE_NAMES})(),
  }

  async run(): Promise<KeysGenResult> {
    const {flags} = this
    const {runKeysGen} = await import('../../cli/keys-gen.js')
    return runKeysGen({
      authorize: flags.authorize,
      bits: flags.bits,
      comment: flags.comment,
      force: flags.force,
      json: this.jsonEnabled(),
      out: flags.file,
      passphraseEnv: flags['passphrase-env'],
      promptPassphrase: flags.passphrase,
      type: flags.type,
    })
  }
}
