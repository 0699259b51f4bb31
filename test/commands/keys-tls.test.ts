// `restwire keys ca` and `keys cert` end to end: the built CLI in child processes, its files checked with openssl.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, readFile, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {restwire, root} from '../helpers/cli.js'
import {extensionValue, openssl, opensslText} from '../helpers/openssl.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

interface Written {
  name: string
  certificatePath: string
  privateKeyPath: string
  subject: string
  sans: string[]
  usages: string[]
  isCa: boolean
  keyType: string
  notAfter: string
  fingerprint: string
  caCertificatePath?: string
}

/** `openssl x509 -fingerprint -sha256` of a file: the colon-separated hex after the `=`. */
async function opensslFingerprint(path: string): Promise<string> {
  const result = await openssl('x509', '-noout', '-fingerprint', '-sha256', '-in', path)
  return result.stdout.trim().split('=')[1] ?? ''
}

describe('restwire keys ca / keys cert', () => {
  const tempDir = useTempDir('restwire-keys-tls-')

  it('keys ca writes ca.pem 0644 and ca-key.pem 0600 in a new 0700 directory and prints a summary', {skip: skipWithout('openssl')}, async () => {
    const dir = join(tempDir(), 'plain', 'pki')
    const result = await restwire(['keys', 'ca', '--dir', dir], {})
    assert.equal(result.code, 0, result.stderr)
    assert.equal(await mode(join(dir, 'ca.pem')), 0o644)
    assert.equal(await mode(join(dir, 'ca-key.pem')), 0o600)
    assert.equal(await mode(dir), 0o700)
    assert.match(result.stdout, new RegExp(`^CA ${join(dir, 'ca.pem')} `, 'm'))
    assert.match(result.stdout, /subject CN=restwire local CA/)
    assert.match(result.stdout, /Inspect with: openssl x509 -noout -text -in /)
    assert.equal(result.stdout.includes('\u001B['), false, 'no colour when stdout is not a terminal')
    const fingerprint = /SHA-256 ([0-9A-F:]+)/.exec(result.stdout)?.[1]
    assert.equal(fingerprint, await opensslFingerprint(join(dir, 'ca.pem')))
    assert.equal(extensionValue(await opensslText(join(dir, 'ca.pem')), 'X509v3 Basic Constraints'), 'CA:TRUE, pathlen:0')
    assert.match((await readFile(join(dir, 'ca-key.pem'), 'utf8')), /^-----BEGIN PRIVATE KEY-----/)
  })

  it('keys cert adds NAME.pem and NAME-key.pem that openssl verifies, with the names and usage asked for (--json)', {skip: skipWithout('openssl')}, async () => {
    const dir = join(tempDir(), 'cert')
    const ca = await restwire(['keys', 'ca', '--dir', dir, '--common-name', 'Acme pipe CA', '--days', '30', '--json'], {})
    assert.equal(ca.code, 0, ca.stderr)
    const caJson = JSON.parse(ca.stdout) as {ca: Written; identities: Written[]}
    assert.deepEqual(caJson.identities, [])
    const result = await restwire(
      ['keys', 'cert', '--ca', dir, '--name', 'web', '--server', '--san', 'web.example.com', '--san', '203.0.113.7,2001:db8::1', '--json'],
      {},
    )
    assert.equal(result.code, 0, result.stderr)
    const json = JSON.parse(result.stdout) as Written
    const cert = join(dir, 'web.pem')
    const key = join(dir, 'web-key.pem')
    assert.equal(json.certificatePath, cert)
    assert.equal(json.privateKeyPath, key)
    assert.equal(json.caCertificatePath, join(dir, 'ca.pem'))
    assert.equal(json.subject, 'CN=web')
    assert.deepEqual(json.sans, ['DNS:web', 'DNS:web.example.com', 'IP:203.0.113.7', 'IP:2001:db8::1'])
    assert.deepEqual(json.usages, ['serverAuth'])
    assert.equal(json.keyType, 'ecdsa-p256')
    assert.equal(json.fingerprint, await opensslFingerprint(cert))
    assert.equal(await mode(key), 0o600)
    assert.equal(await mode(cert), 0o644)

    const verified = await openssl('verify', '-CAfile', join(dir, 'ca.pem'), cert)
    assert.equal(verified.code, 0, verified.stderr)
    const text = await opensslText(cert)
    assert.match(text, /Subject: CN ?= ?web\n/)
    assert.match(text, /Issuer: CN ?= ?Acme pipe CA\n/)
    assert.equal(
      extensionValue(text, 'X509v3 Subject Alternative Name'),
      'DNS:web, DNS:web.example.com, IP Address:203.0.113.7, IP Address:2001:DB8:0:0:0:0:0:1',
    )
    assert.equal(extensionValue(text, 'X509v3 Extended Key Usage'), 'TLS Web Server Authentication')
    assert.equal((await openssl('pkey', '-in', key, '-noout')).code, 0)
    // The CA lives 30 days: the leaf (825 days asked) ends with it.
    assert.equal(json.notAfter, caJson.ca.notAfter)

    const client = await restwire(['keys', 'cert', '--ca', dir, '--name', 'node-7', '--client', '--type', 'rsa', '--json'], {})
    assert.equal(client.code, 0, client.stderr)
    const clientJson = JSON.parse(client.stdout) as Written
    assert.deepEqual(clientJson.usages, ['clientAuth'])
    assert.equal(clientJson.keyType, 'rsa-2048')
    assert.equal(extensionValue(await opensslText(join(dir, 'node-7.pem')), 'X509v3 Key Usage'), 'Digital Signature, Key Encipherment')

    const both = await restwire(['keys', 'cert', '--ca', dir, '--name', 'both', '--client', '--server', '--json'], {})
    assert.deepEqual((JSON.parse(both.stdout) as Written).usages, ['serverAuth', 'clientAuth'])
  })

  it('refuses to overwrite without --force, naming the file, and replaces with --force', async () => {
    const dir = join(tempDir(), 'overwrite')
    assert.equal((await restwire(['keys', 'ca', '--dir', dir], {})).code, 0)
    const caBefore = await readFile(join(dir, 'ca.pem'), 'utf8')
    const again = await restwire(['keys', 'ca', '--dir', dir], {})
    assert.equal(again.code, 10)
    assert.match(again.stderr, /RW_ERR_FILE_EXISTS/)
    assert.ok(again.stderr.includes(join(dir, 'ca.pem')), again.stderr)
    assert.equal(await readFile(join(dir, 'ca.pem'), 'utf8'), caBefore)

    assert.equal((await restwire(['keys', 'cert', '--ca', dir, '--name', 'hub'], {})).code, 0)
    const hubBefore = await readFile(join(dir, 'hub-key.pem'), 'utf8')
    const refused = await restwire(['keys', 'cert', '--ca', dir, '--name', 'hub', '--json'], {})
    assert.equal(refused.code, 10)
    assert.deepEqual(JSON.parse(refused.stdout).error.code, 'RW_ERR_FILE_EXISTS')
    assert.equal(JSON.parse(refused.stdout).error.path, join(dir, 'hub.pem'))
    assert.equal(await readFile(join(dir, 'hub-key.pem'), 'utf8'), hubBefore)

    assert.equal((await restwire(['keys', 'cert', '--ca', dir, '--name', 'hub', '--force'], {})).code, 0)
    assert.notEqual(await readFile(join(dir, 'hub-key.pem'), 'utf8'), hubBefore)
    assert.equal(await mode(join(dir, 'hub-key.pem')), 0o600)
    assert.equal((await restwire(['keys', 'ca', '--dir', dir, '--force'], {})).code, 0)
    assert.notEqual(await readFile(join(dir, 'ca.pem'), 'utf8'), caBefore)
  })

  it('--quickstart makes a CA, a hub (server and client, local names) and nodes (client) in one directory', {skip: skipWithout('openssl')}, async () => {
    const dir = join(tempDir(), 'quick')
    const result = await restwire(['keys', 'ca', '--dir', dir, '--quickstart', '--san', 'web.example.com', '--node', 'fileserver', '--node', 'backup', '--json'], {})
    assert.equal(result.code, 0, result.stderr)
    const json = JSON.parse(result.stdout) as {ca: Written; identities: Written[]}
    assert.equal(json.ca.isCa, true)
    assert.deepEqual(json.identities.map((identity) => identity.name), ['hub', 'fileserver', 'backup'])
    const [hub, fileserver] = json.identities as [Written, Written]
    assert.deepEqual(hub.sans, ['DNS:hub', 'DNS:localhost', 'IP:127.0.0.1', 'IP:::1', 'DNS:web.example.com'])
    assert.deepEqual(hub.usages, ['serverAuth', 'clientAuth'])
    assert.deepEqual(fileserver.sans, ['DNS:fileserver'])
    assert.deepEqual(fileserver.usages, ['clientAuth'])
    for (const name of ['hub', 'fileserver', 'backup']) {
      const verified = await openssl('verify', '-CAfile', join(dir, 'ca.pem'), join(dir, `${name}.pem`))
      assert.equal(verified.code, 0, verified.stderr)
      assert.equal(await mode(join(dir, `${name}-key.pem`)), 0o600)
    }

    const purpose = await openssl('verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'sslserver', join(dir, 'hub.pem'))
    assert.equal(purpose.code, 0, purpose.stderr)

    const defaults = join(tempDir(), 'quick-defaults')
    const plain = await restwire(['keys', 'ca', '--dir', defaults, '--quickstart'], {})
    assert.equal(plain.code, 0, plain.stderr)
    assert.match(plain.stdout, /^hub /m)
    assert.match(plain.stdout, /^node1 /m)
    for (const file of ['ca.pem', 'ca-key.pem', 'hub.pem', 'hub-key.pem', 'node1.pem', 'node1-key.pem']) assert.ok(existsSync(join(defaults, file)), file)
  })

  it('--quickstart checks every file first: one existing file means nothing is written', async () => {
    const dir = join(tempDir(), 'quick-exists')
    await mkdir(dir, {recursive: true})
    await writeFile(join(dir, 'node1.pem'), 'mine\n')
    const result = await restwire(['keys', 'ca', '--dir', dir, '--quickstart'], {})
    assert.equal(result.code, 10)
    assert.ok(result.stderr.includes(join(dir, 'node1.pem')), result.stderr)
    assert.equal(existsSync(join(dir, 'ca.pem')), false)
    assert.equal(existsSync(join(dir, 'hub.pem')), false)
    assert.equal(await readFile(join(dir, 'node1.pem'), 'utf8'), 'mine\n')
  })

  it('--dir elsewhere gets NAME.pem, NAME-key.pem and a copy of ca.pem, never ca-key.pem', {skip: skipWithout('openssl')}, async () => {
    const caDir = join(tempDir(), 'split', 'ca')
    const nodeDir = join(tempDir(), 'split', 'fileserver')
    assert.equal((await restwire(['keys', 'ca', '--dir', caDir], {})).code, 0)
    const result = await restwire(['keys', 'cert', '--ca', caDir, '--name', 'fileserver', '--client', '--dir', nodeDir, '--json'], {})
    assert.equal(result.code, 0, result.stderr)
    assert.equal((JSON.parse(result.stdout) as Written).caCertificatePath, join(nodeDir, 'ca.pem'))
    assert.equal(await readFile(join(nodeDir, 'ca.pem'), 'utf8'), await readFile(join(caDir, 'ca.pem'), 'utf8'))
    assert.equal(existsSync(join(nodeDir, 'ca-key.pem')), false)
    assert.equal((await openssl('verify', '-CAfile', join(nodeDir, 'ca.pem'), join(nodeDir, 'fileserver.pem'))).code, 0)

    // A second identity in the same directory leaves the identical ca.pem alone; a different CA's is refused.
    assert.equal((await restwire(['keys', 'cert', '--ca', caDir, '--name', 'backup', '--dir', nodeDir], {})).code, 0)
    const otherCa = join(tempDir(), 'split', 'other-ca')
    assert.equal((await restwire(['keys', 'ca', '--dir', otherCa], {})).code, 0)
    const clash = await restwire(['keys', 'cert', '--ca', otherCa, '--name', 'third', '--dir', nodeDir], {})
    assert.equal(clash.code, 10)
    assert.match(clash.stderr, /holds a different CA certificate/)
  })

  it('colours the summary on a terminal, and shows examples in --help', {skip: skipWithout('python3')}, async () => {
    const dir = join(tempDir(), 'tty')
    const output = await onTerminal(['keys', 'ca', '--dir', dir, '--quickstart'])
    assert.ok(output.includes('\u001B[1mhub\u001B[22m'), output)
    assert.ok(output.includes('SHA-256 \u001B[36m'), output)
    for (const command of ['ca', 'cert']) {
      const help = await restwire(['keys', command, '--help'], {})
      assert.equal(help.code, 0)
      assert.match(help.stdout, /EXAMPLES/)
    }
  })

  it('fails with clear errors: bad NAME or --san (exit 2), bad sizes (exit 2), a missing or wrong CA directory (exit 10)', async () => {
    const dir = join(tempDir(), 'errors')
    assert.equal((await restwire(['keys', 'ca', '--dir', dir], {})).code, 0)

    const badName = await restwire(['keys', 'cert', '--ca', dir, '--name', '../evil', '--json'], {})
    assert.equal(badName.code, 2)
    assert.equal(JSON.parse(badName.stdout).error.code, 'RW_ERR_USAGE')
    assert.match(JSON.parse(badName.stdout).error.message, /--name "\.\.\/evil"/)
    assert.equal(existsSync(join(tempDir(), 'evil.pem')), false)

    const reserved = await restwire(['keys', 'cert', '--ca', dir, '--name', 'ca'], {})
    assert.equal(reserved.code, 2)
    assert.match(reserved.stderr, /taken by the CA's files/)

    const badSan = await restwire(['keys', 'cert', '--ca', dir, '--name', 'ok', '--san', 'not a host'], {})
    assert.equal(badSan.code, 2)
    assert.match(badSan.stderr, /--san "not a host" is neither an IP address nor a DNS name/)
    assert.equal(existsSync(join(dir, 'ok.pem')), false)

    const badBits = await restwire(['keys', 'cert', '--ca', dir, '--name', 'ok', '--type', 'rsa', '--bits', '1024'], {})
    assert.equal(badBits.code, 2)
    assert.match(badBits.stderr, /RSA keys must be 2048, 3072, 4096 bits/)

    const missingName = await restwire(['keys', 'cert', '--ca', dir], {})
    assert.equal(missingName.code, 2)
    assert.match(missingName.stderr, /missing required flag --name/)

    const hubWithoutQuickstart = await restwire(['keys', 'ca', '--dir', join(tempDir(), 'nq'), '--hub', 'x'], {})
    assert.equal(hubWithoutQuickstart.code, 2)
    assert.match(hubWithoutQuickstart.stderr, /--quickstart/)

    const missingCa = await restwire(['keys', 'cert', '--ca', join(tempDir(), 'no-such-dir'), '--name', 'hub', '--json'], {})
    assert.equal(missingCa.code, 10)
    const missingError = JSON.parse(missingCa.stdout).error as {code: string; message: string; hint: string}
    assert.equal(missingError.code, 'RW_ERR_KEY_FILE')
    assert.match(missingError.message, /no-such-dir: no such file or directory/)
    assert.match(missingError.hint, /restwire keys ca --dir/)

    // A directory with a leaf's files where the CA should be: not a CA.
    const notCa = join(tempDir(), 'not-a-ca')
    await mkdir(notCa)
    await writeFile(join(notCa, 'ca.pem'), await readFile(join(dir, 'ca.pem'), 'utf8'))
    const withoutKey = await restwire(['keys', 'cert', '--ca', notCa, '--name', 'hub'], {})
    assert.equal(withoutKey.code, 10)
    assert.match(withoutKey.stderr, /ca-key\.pem/)
    assert.equal((await restwire(['keys', 'cert', '--ca', dir, '--name', 'leaf'], {})).code, 0)
    await writeFile(join(notCa, 'ca.pem'), await readFile(join(dir, 'leaf.pem'), 'utf8'))
    await writeFile(join(notCa, 'ca-key.pem'), await readFile(join(dir, 'leaf-key.pem'), 'utf8'))
    const leafAsCa = await restwire(['keys', 'cert', '--ca', notCa, '--name', 'hub'], {})
    assert.equal(leafAsCa.code, 10)
    assert.match(leafAsCa.stderr, /not a CA certificate/)
  })
})

/** Runs the CLI on a pseudo-terminal (test/fixtures/tty-driver.py, no prompts to answer) and returns what it printed. */
function onTerminal(args: string[]): Promise<string> {
  const driver = join(root, 'test', 'fixtures', 'tty-driver.py')
  const env: NodeJS.ProcessEnv = {...process.env, TERM: 'xterm-256color'}
  // A plain terminal: no colour overrides, and no CI variable (chalk turns colour off under CI=...).
  delete env.FORCE_COLOR
  delete env.NO_COLOR
  delete env.CI
  return new Promise((resolve, reject) => {
    execFile(tool('python3'), [driver, '[]', '--', process.execPath, join(root, 'bin', 'run.js'), ...args], {env, timeout: 60_000}, (error, stdout) => {
      if (error) reject(new Error(`${args.join(' ')} failed on a terminal: ${String(error)}\n${stdout}`))
      else resolve(stdout)
    })
  })
}
