// SSH public key fingerprints in the format `ssh-keygen -l` prints.
import {createHash} from 'node:crypto'

/** `SHA256:<unpadded base64 of sha256(blob)>`, where blob is the SSH wire encoding of the public key. */
export function sha256Fingerprint(publicKeyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '')
}
