import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdir, readFile, stat, writeFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {promisify} from 'node:util'
import {isRestwireError} from '../../src/core/errors.js'
import {generateSshKeyPair} from '../../src/core/keys/ssh-key-pair.js'
import {ensureClientIdentity, ensureServerIdentity, localPaths, restwireHome} from '../../src/core/home.js'
import {parseAuthorizedKeys} from '../../src/core/ssh/authorized-keys.js'
import {loadPrivateKey} from '../../src/core/ssh/private-key.js'
import {sshKeygen, useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout} from '../helpers/tools.js'

const execFileAsync = promisify(execFile)
const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

describe('restwireHome and localPaths', () => {
  it('prefers $RESTWIRE_HOME, then $XDG_CONFIG_HOME/restwire, then ~/.config/restwire', () => {
    assert.equal(restwireHome({RESTWIRE_HOME: '/srv/rw', XDG_CONFIG_HOME: '/x', HOME: '/h'}), '/srv/rw')
    assert.equal(restwireHome({XDG_CONFIG_HOME: '/x', HOME: '/h'}), '/x/restwire')
    assert.equal(restwireHome({HOME: '/h'}), '/h/.config/restwire')
    assert.equal(restwireHome({XDG_CONFIG_HOME: 'relative', HOME: '/h'}), '/h/.config/restwire', 'relative XDG is ignored')
    assert.equal(restwireHome({RESTWIRE_HOME: ''}), join(homedir(), '.config', 'restwire'))
  })

  it('names the files inside the home', () => {
    assert.deepEqual(localPaths('/rw'), {
      home: '/rw',
      hostKey: '/rw/host_ed25519_key',
      clientKey: '/rw/id_ed25519',
      authorizedKeys: '/rw/authorized_keys',
      knownHosts: '/rw/known_hosts',
    })
  })
})

describe('ensureServerIdentity and ensureClientIdentity', () => {
  const tempDir = useTempDir()

  async function assertConsistentHome(home: string): Promise<void> {
    const paths = localPaths(home)
    assert.equal(await mode(home), 0o700)
    for (const key of [paths.hostKey, paths.clientKey]) {
      assert.equal(await mode(key), 0o600)
      const loaded = await loadPrivateKey(key, {env: {}})
      assert.equal(loaded.type, 'ssh-ed25519')
      const pub = await readFile(`${key}.pub`, 'utf8')
      assert.equal(pub.split(' ')[1], loaded.publicKeyBlob.toString('base64'), `${key}.pub matches ${key}`)
      assert.equal((await sshKeygen('-l', '-f', key)).split(' ')[1], loaded.fingerprint)
    }

    const client = await loadPrivateKey(paths.clientKey, {env: {}})
    const {keys, errors} = parseAuthorizedKeys(await readFile(paths.authorizedKeys, 'utf8'))
    assert.deepEqual(errors, [])
    assert.equal(keys.filter((key) => key.blob.equals(client.publicKeyBlob)).length, 1, 'client key authorized once')
    assert.equal(await mode(paths.authorizedKeys), 0o600)
  }

  it('creates the home, host key, client key and authorized_keys once, then nothing', {skip: skipWithout('ssh-keygen')}, async () => {
    const home = join(tempDir(), 'fresh', 'restwire')
    const paths = localPaths(home)
    const first = await ensureServerIdentity(paths)
    assert.deepEqual(new Set(first.created), new Set([
      home,
      paths.hostKey,
      `${paths.hostKey}.pub`,
      paths.clientKey,
      `${paths.clientKey}.pub`,
      paths.authorizedKeys,
    ]))
    await assertConsistentHome(home)
    const hostKey = await readFile(paths.hostKey, 'utf8')

    assert.deepEqual(await ensureServerIdentity(paths), {created: []})
    assert.deepEqual(await ensureClientIdentity(paths), {created: []})
    assert.equal(await readFile(paths.hostKey, 'utf8'), hostKey, 'existing keys are kept')
    await assertConsistentHome(home)
  })

  it('never re-adds an existing client key whose line was removed (that is how it is revoked)', async () => {
    const home = join(tempDir(), 'revoked')
    const paths = localPaths(home)
    await ensureServerIdentity(paths)
    await writeFile(paths.authorizedKeys, '# emptied by the admin\n')
    assert.deepEqual(await ensureClientIdentity(paths), {created: []})
    assert.deepEqual(await ensureServerIdentity(paths), {created: []})
    assert.equal(parseAuthorizedKeys(await readFile(paths.authorizedKeys, 'utf8')).keys.length, 0)
  })

  it('adds the client key to an authorized_keys file that already has other keys', async () => {
    const home = join(tempDir(), 'existing')
    const paths = localPaths(home)
    const other = await generateSshKeyPair({type: 'ed25519', comment: 'someone else'})
    await mkdir(home, {mode: 0o700})
    await writeFile(paths.authorizedKeys, `# mine\n${other.publicKey}\n`, {mode: 0o600})

    const {created} = await ensureClientIdentity(paths)
    assert.deepEqual(created, [paths.clientKey, `${paths.clientKey}.pub`])
    const {keys} = parseAuthorizedKeys(await readFile(paths.authorizedKeys, 'utf8'))
    assert.deepEqual(keys.map((key) => key.comment.split('@')[0]), ['someone else', 'restwire'])
  })

  it('leaves one consistent identity when many callers start at once in one process', {skip: skipWithout('ssh-keygen')}, async () => {
    const home = join(tempDir(), 'raced-in-process')
    const paths = localPaths(home)
    const results = await Promise.all([
      ensureServerIdentity(paths),
      ensureClientIdentity(paths),
      ensureServerIdentity(paths),
      ensureClientIdentity(paths),
      ensureClientIdentity(paths),
    ])
    const created = results.flatMap((result) => result.created)
    assert.equal(created.filter((path) => path === paths.clientKey).length, 1, 'one caller created the client key')
    assert.equal(created.filter((path) => path === paths.hostKey).length, 1, 'one caller created the host key')
    await assertConsistentHome(home)
  })

  it('leaves one consistent identity when several processes start at once', {skip: skipWithout('ssh-keygen')}, async () => {
    const home = join(tempDir(), 'raced-across-processes')
    const fixture = new URL('../fixtures/ensure-identity.ts', import.meta.url).pathname
    const roles = ['server', 'client', 'server', 'client']
    const outputs = await Promise.all(
      roles.map((role) => execFileAsync(process.execPath, ['--import', 'tsx', fixture, home, role], {timeout: 60_000})),
    )
    const created = outputs.flatMap(({stdout}) => (JSON.parse(stdout) as {created: string[]}).created)
    const paths = localPaths(home)
    assert.equal(created.filter((path) => path === paths.clientKey).length, 1)
    assert.equal(created.filter((path) => path === paths.hostKey).length, 1)
    await assertConsistentHome(home)
  })

  it('refuses an existing key it cannot use, naming the file', async () => {
    const home = join(tempDir(), 'broken')
    const paths = localPaths(home)
    await ensureClientIdentity(paths)
    await writeFile(paths.clientKey, 'not a key\n')
    await assert.rejects(ensureClientIdentity(paths), (error: unknown) => {
      assert.ok(isRestwireError(error, 'RW_ERR_KEY_FILE'))
      assert.ok(error.message.includes(paths.clientKey))
      return true
    })
  })
})
