// The gateway's known_nodes file: known_hosts lines `<pattern> <type> <base64>` whose patterns match
// node ids (not host names). A key is let through the SSH handshake when any line lists it; after
// IDENTIFY a line with that key must also match the node id.
import {readFile} from 'node:fs/promises'
import {RestwireError, errnoCode} from '../errors.js'
import {blobKeyType} from '../ssh/key-blob.js'
import {sha256Fingerprint} from '../ssh/fingerprint.js'
import {KnownHosts, parseKnownHosts} from '../ssh/known-hosts.js'

/** Node ids go into the file as patterns: no spaces, commas or glob characters. */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID.test(nodeId)
}

/** Handshake check: is this key listed (and not revoked) anywhere in the file? */
export async function isKeyListed(path: string, blob: Buffer): Promise<boolean> {
  let text = ''
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error
  }

  const {entries} = parseKnownHosts(text)
  if (entries.some((entry) => entry.marker === 'revoked' && entry.blob.equals(blob))) return false
  return entries.some((entry) => entry.marker === undefined && entry.blob.equals(blob))
}

/**
 * After IDENTIFY: the key must be listed under a pattern matching the node id. With acceptNew an
 * id the file knows nothing about is recorded as `<node-id> <type> <base64>` (trust on first use).
 */
export async function verifyNodeKey(path: string, nodeId: string, blob: Buffer, acceptNew: boolean): Promise<void> {
  const knownNodes = await KnownHosts.load(path)
  const keyType = blobKeyType(blob) ?? 'unknown'
  // Port 22 makes the looked-up name the bare (lowercased) id, as ssh does for host names.
  const status = knownNodes.check(nodeId, 22, keyType, blob)
  if (status === 'match') return
  if (status === 'unknown' && acceptNew) {
    await knownNodes.add(nodeId, 22, keyType, blob)
    return
  }

  const fingerprint = sha256Fingerprint(blob)
  const details = {fingerprint, keyType, knownNodes: path, nodeId}
  if (status === 'unknown') {
    throw new RestwireError('RW_ERR_HOST_KEY_UNKNOWN', `node "${nodeId}" (${keyType} key ${fingerprint}) is not trusted in ${path}`, {
      details,
      hint: `If you trust this key, add the line "${nodeId} ${keyType} ${blob.toString('base64')}" to ${path}, or accept new nodes on first use.`,
    })
  }

  throw new RestwireError('RW_ERR_HOST_KEY_CHANGED', `node "${nodeId}" presented ${keyType} key ${fingerprint}, which ${status === 'revoked' ? 'is revoked' : 'does not match the key recorded'} in ${path}`, {
    details,
    hint: `If the change is expected, remove the old line for ${nodeId} from ${path}.`,
  })
}
