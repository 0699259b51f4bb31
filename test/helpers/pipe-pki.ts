// A throwaway pipe PKI made with the real openssl CLI, in the identity directory layout the pipe reads
// (ca.pem, ca-key.pem, NAME.pem, NAME-key.pem): a CA, a hub, nodes, a second CA, an expired node and a
// hub certificate with the wrong name.
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {type PipeIdentity, loadPipeIdentity} from '../../src/core/pipe/tls-identity.js'
import {tool} from './tools.js'

const run = promisify(execFile)

export interface PipePki {
  /** The identity directory: ca.pem plus hub, node-a, node-b, expired-node and elsewhere. */
  dir: string
  /** A second CA's directory, with its own node-a. */
  otherDir: string
  identity(name: string, dir?: string): Promise<PipeIdentity>
  /** Adds a node certificate (clientAuth) to the identity directory. */
  addNode(name: string): Promise<void>
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  await run(tool('openssl'), args, {cwd})
}

async function makeCa(dir: string, cn: string): Promise<void> {
  await mkdir(dir, {recursive: true})
  await openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem',
    '-days', '30', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ])
  await writeFile(join(dir, 'leaf.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n')
}

interface LeafOptions {
  sans?: string[]
  usage: 'server' | 'client'
  /** openssl ca dates (YYYYMMDDHHMMSSZ) for a certificate that is not valid now. */
  dates?: {start: string; end: string}
}

async function makeLeaf(dir: string, name: string, options: LeafOptions): Promise<void> {
  const sans = [`DNS:${name}`, ...(options.sans ?? [])].join(',')
  const usage = options.usage === 'server' ? 'serverAuth,clientAuth' : 'clientAuth'
  if (!options.dates) {
    // One openssl run per certificate: `req -x509 -CA` (OpenSSL 3.0) makes the key and signs it; the
    // minimal config keeps openssl's default CA extensions out.
    await openssl(dir, [
      'req', '-config', 'leaf.cnf', '-x509', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=${name}`, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-addext', `subjectAltName=${sans}`, '-addext', `extendedKeyUsage=${usage}`, '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'basicConstraints=critical,CA:FALSE',
    ])
    return
  }

  await openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`])
  await writeFile(join(dir, `${name}.ext`), `subjectAltName=${sans}\nextendedKeyUsage=${usage}\nkeyUsage=critical,digitalSignature\n`)
  // `openssl x509` (3.0) cannot back-date; `openssl ca` can, given a minimal database.
  await writeFile(join(dir, 'index.txt'), '')
  await writeFile(join(dir, 'serial'), '1000\n')
  await writeFile(join(dir, 'ca.cnf'), '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n')
  await openssl(dir, [
    'ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca-key.pem', '-in', `${name}.csr`, '-out', `${name}.pem`,
    '-startdate', options.dates.start, '-enddate', options.dates.end, '-extfile', `${name}.ext`, '-notext',
  ])
}

/** Needs openssl: guard the suite with skipWithout('openssl'). */
export async function makePipePki(root: string): Promise<PipePki> {
  const dir = join(root, 'pki')
  const otherDir = join(root, 'other-pki')
  await Promise.all([makeCa(dir, 'restwire test pipe CA'), makeCa(otherDir, 'some other CA')])
  await Promise.all([
    makeLeaf(dir, 'hub', {sans: ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1'], usage: 'server'}),
    makeLeaf(dir, 'node-a', {usage: 'client'}),
    makeLeaf(dir, 'elsewhere', {sans: ['DNS:elsewhere.example'], usage: 'server'}),
    makeLeaf(otherDir, 'node-a', {usage: 'client'}),
    makeLeaf(dir, 'node-b', {usage: 'client'}),
    makeLeaf(dir, 'expired-node', {dates: {end: '20200201000000Z', start: '20200101000000Z'}, usage: 'client'}),
  ])
  return {
    addNode: (name) => makeLeaf(dir, name, {usage: 'client'}),
    dir,
    identity: (name, inDir = dir) => loadPipeIdentity({dir: inDir, name}),
    otherDir,
  }
}
