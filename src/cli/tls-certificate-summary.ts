// Human output of `keys ca` and `keys cert`: a few lines per certificate written, coloured only on a terminal.
import {basename} from 'node:path'
import chalk from 'chalk'
import type {WrittenCertificate} from '../core/keys/tls-identities.js'

export function formatWrittenCertificate(written: WrittenCertificate): string {
  const title = written.isCa ? 'CA' : written.name
  const lines = [
    `${chalk.bold(title)} ${written.certificatePath} ${chalk.dim(`(key ${basename(written.privateKeyPath)}, mode 0600)`)}`,
    `  subject ${written.subject}${written.isCa ? '' : `, issuer ${written.issuer}`}`,
  ]
  if (!written.isCa) {
    lines.push(`  names   ${written.sans.join(', ')}`, `  usage   ${written.usages.join(', ')}`)
  }

  lines.push(
    `  key     ${written.keyType}, valid until ${written.notAfter.slice(0, 10)}`,
    `  SHA-256 ${chalk.cyan(written.fingerprint)}`,
  )
  return lines.join('\n')
}

/** The openssl command that shows a certificate in full: the way to check what was written. */
export function inspectHint(certificatePath: string): string {
  return chalk.dim(`Inspect with: openssl x509 -noout -text -in ${certificatePath}`)
}
