// The published package: `npm pack` of this clone, installed the way a user installs it (`npm install -g
// --prefix TMP`: runtime dependencies only), and the INSTALLED restwire run, never this clone's bin: the
// bundle, the oclif manifest, the V8 code cache beside the bundle (and a read-only installation),
// ssh2's native binding and its fallback, tsx for .ts routes, the library entries. The dependencies come
// from the npm registry; without it the suite is skipped with one warning line naming why.
// Packs the dist/ that `npm test` has just built (npm pack --ignore-scripts: the prepare script would
// rebuild dist/ under the tests running beside this one).
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync, readdirSync} from 'node:fs'
import {chmod, mkdir, readFile, rename, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {type TestContext, after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import {type ServeProcess, restwire, root, startServe} from '../helpers/cli.js'
import {sshKeygen, useTempDir} from '../helpers/ssh-tools.js'
import {skipTestWithout, skipWithout, tool} from '../helpers/tools.js'

const execFileAsync = promisify(execFile)
// node:test gives the whole file 120 s (scripts/test.mjs): the install gets most of it, with quick retries.
const INSTALL_TIMEOUT_MS = 80_000
const FETCH_FLAGS = ['--fetch-retries=1', '--fetch-retry-mintimeout=1000', '--fetch-retry-maxtimeout=3000', '--fetch-timeout=20000']
// What npm reports when it cannot reach the registry: DNS, refused or reset connections, timeouts.
const NETWORK_FAILURE = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT)\b|network/i
// The prefixes npm exports to the scripts it runs (npm test): they must not redirect the nested npm.
const NPM_PREFIX_VARIABLES = /^npm_config_(local_|global_)?prefix$/i

/** Runs npm: the one running `npm test` (npm_execpath), else `npm` on PATH. */
function npm(args: string[], cwd: string, timeout: number): Promise<{stdout: string; stderr: string}> {
  const npmCli = process.env.npm_execpath?.endsWith('npm-cli.js') ? process.env.npm_execpath : undefined
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !NPM_PREFIX_VARIABLES.test(name)))
  const [file, argv] = npmCli ? [process.execPath, [npmCli, ...args]] : ['npm', args]
  return execFileAsync(file, argv, {cwd, env, maxBuffer: 16 << 20, timeout})
}

/** Why the registry could not be used, or undefined when the failure is something else (a real defect). */
function registryFailure(error: unknown): string | undefined {
  const failure = error as {killed?: boolean; stderr?: string}
  if (failure.killed) return `npm install did not finish within ${INSTALL_TIMEOUT_MS / 1000} s (registry unreachable or slow?)`
  const lines = (failure.stderr ?? '').split('\n').filter((entry) => NETWORK_FAILURE.test(entry))
  // npm's FetchError line names the URL and the reason; else its `code` line.
  const line = lines.find((entry) => entry.includes('reason:')) ?? lines[0]
  return line ? `npm could not reach the registry: ${line.replace(/^npm (error|ERR!) /, '').trim()}` : undefined
}

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777
const v8Caches = (dir: string): string[] => readdirSync(dir).filter((name) => name.includes('.v8cache')).sort()
const loadsBinding = async (pid: number): Promise<boolean> => (await readFile(`/proc/${pid}/maps`, 'utf8')).includes('sshcrypto.node')

describe('the npm package, installed from its tarball', () => {
  const dir = useTempDir('restwire-package-')
  let skipReason: string | undefined
  /** argv that runs the installed command: PREFIX/bin/restwire, through its own shebang. */
  let installed: string[]
  let packageDir: string
  let binding: string
  // The installed CLI must not see this clone's tsx or modules through the environment.
  const isolated = (home: string): Record<string, string> => ({NODE_OPTIONS: '', NODE_PATH: '', RESTWIRE_HOME: home})
  const skipped = (t: TestContext): boolean => {
    if (skipReason) t.skip(skipReason)
    return skipReason !== undefined
  }

  before(async () => {
    // Other CLI tests leave code caches in dist/; make sure there is one, so the tarball is seen to leave it out.
    await restwire(['--version'], {})
    const {stdout} = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir()], root, 60_000)
    const [{filename}] = JSON.parse(stdout) as Array<{filename: string}>
    const prefix = join(dir(), 'prefix')
    try {
      await npm(['install', '--global', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', ...FETCH_FLAGS, join(dir(), filename!)], dir(), INSTALL_TIMEOUT_MS)
    } catch (error) {
      skipReason = registryFailure(error)
      if (!skipReason) throw error
      console.warn(`\n*** package test SKIPPED: ${skipReason} ***\n`)
      return
    }

    installed = [join(prefix, 'bin', 'restwire')]
    packageDir = join(prefix, 'lib', 'node_modules', 'restwire')
    binding = join(packageDir, 'node_modules', 'ssh2', 'lib', 'protocol', 'crypto', 'build', 'Release', 'sshcrypto.node')
    // Readable by an unprivileged user, for the read-only installation below (mkdtemp makes it 0700).
    await chmod(dir(), 0o755)
  }, {timeout: INSTALL_TIMEOUT_MS + 20_000})

  it('ships the bundle, the manifest and bin/run.js, no code caches and no dev dependencies', async (t) => {
    if (skipped(t)) return
    const manifest = JSON.parse(await readFile(join(packageDir, 'oclif.manifest.json'), 'utf8')) as {version: string; commands: Record<string, unknown>}
    const pjson = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {version: string}
    assert.equal(manifest.version, pjson.version, 'the manifest was made from this version')
    for (const id of ['keys:gen', 'korv:call', 'korv:serve']) assert.ok(manifest.commands[id], `the manifest lists ${id}`)
    assert.ok(existsSync(join(packageDir, 'dist', 'cli.cjs')))
    assert.deepEqual(readdirSync(join(packageDir, 'bin')).sort(), ['package.json', 'run.js'], 'bin/dev.mjs needs src/ and tsx: not shipped')
    assert.deepEqual(v8Caches(join(packageDir, 'dist')), [], 'no code cache from the build machine')
    assert.equal(existsSync(join(packageDir, 'src')), false)
    for (const devOnly of ['typescript', 'eslint', '@types/node']) assert.equal(existsSync(join(packageDir, 'node_modules', devOnly)), false, `${devOnly} is not installed`)
  })

  it('runs from a read-only installation without writing a code cache', async (t) => {
    if (skipped(t)) return
    const dist = join(packageDir, 'dist')
    const home = join(dir(), 'read-only-home')
    await mkdir(home, {mode: 0o755})
    // root writes anywhere: run as nobody instead (with setpriv), the way a root-owned global install is used.
    const asRoot = process.getuid?.() === 0
    if (asRoot && skipTestWithout(t, 'setpriv')) return
    const cli = asRoot ? [tool('setpriv'), '--reuid=65534', '--regid=65534', '--clear-groups', ...installed] : installed
    if (!asRoot) await chmod(dist, 0o555)
    try {
      const result = await restwire(['--version'], {...isolated(home), HOME: home}, undefined, cli)
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /^restwire\/\d+\.\d+\.\d+ /)
      assert.equal(result.stderr, '', 'a cache that cannot be written is no error')
    } finally {
      if (!asRoot) await chmod(dist, 0o755)
    }
    assert.deepEqual(v8Caches(dist), [])
  })

  it('prints --version and writes the shared code cache beside the bundle', async (t) => {
    if (skipped(t)) return
    const result = await restwire(['--version'], isolated(join(dir(), 'home')), undefined, installed)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, new RegExp(`^restwire/\\d+\\.\\d+\\.\\d+ ${process.platform}-${process.arch} node-${process.version}\n$`))
    assert.deepEqual(v8Caches(join(packageDir, 'dist')), [`cli.cjs.${process.version}.v8cache`])
    assert.match((await restwire(['korv', 'call', '--help'], isolated(join(dir(), 'home')), undefined, installed)).stdout, /USAGE\n {2}\$ restwire korv call/)
    // Neither --help nor a failing run makes korv call's own cache: it would miss the usual path.
    const refused = await restwire(['korv', 'call', '--to', '1', '--connect-timeout', '2s', 'GET', '/hello'], isolated(join(dir(), 'home')), undefined, installed)
    assert.equal(refused.code, 3, refused.stderr)
    assert.deepEqual(v8Caches(join(packageDir, 'dist')), [`cli.cjs.${process.version}.v8cache`])
  })

  it('keys gen writes a 0600 key that ssh-keygen reads', {skip: skipWithout('ssh-keygen')}, async (t) => {
    if (skipped(t)) return
    const home = join(dir(), 'keys-home')
    const result = await restwire(['keys', 'gen', '-C', 'package@test'], isolated(home), undefined, installed)
    assert.equal(result.code, 0, result.stderr)
    const key = join(home, 'id_ed25519')
    const fingerprint = /The key fingerprint is: (SHA256:\S+) package@test/.exec(result.stdout)?.[1]
    assert.ok(fingerprint, result.stdout)
    assert.equal(await mode(key), 0o600)
    assert.equal((await sshKeygen('-l', '-f', key)).split(' ')[1], fingerprint)
  })

  describe('korv serve --demo and korv call, both installed', () => {
    const servers: ServeProcess[] = []
    after(async () => {
      await Promise.all(servers.map((server) => server.stop('SIGKILL')))
    })
    const serveAndCall = async (home: string, serveArgs: string[], path: string): Promise<{serve: ServeProcess; stdout: string}> => {
      const serve = await startServe(serveArgs, isolated(home), installed)
      servers.push(serve)
      const result = await restwire(['korv', 'call', 'GET', path, '--to', String(serve.port)], isolated(home), undefined, installed)
      assert.equal(result.code, 0, result.stderr)
      return {serve, stdout: result.stdout}
    }

    it('answers GET /hello, with ssh2\'s native binding when its install script built it', async (t) => {
      if (skipped(t)) return
      const {serve, stdout} = await serveAndCall(join(dir(), 'korv-home'), ['--demo'], '/hello')
      assert.equal(stdout, '{"msg":"Hello World!"}\n')
      assert.ok(v8Caches(join(packageDir, 'dist')).includes(`korv-call-cold.cjs.${process.version}.connect.v8cache`), 'korv call has its own cache')
      if (!existsSync(binding)) {
        console.warn(`\n*** package test: ssh2's native binding was not built at install (no compiler, or install scripts skipped); korv ran on ssh2's fallback ***\n`)
        return
      }
      if (existsSync('/proc/self/maps')) assert.ok(await loadsBinding(serve.child.pid!), 'the bundle loads the binding from the installed ssh2')
    })

    it('serves the inspector page from the package\'s inspector/ folder', async (t) => {
      if (skipped(t)) return
      assert.deepEqual(readdirSync(join(packageDir, 'inspector')).sort(), ['index.html', 'inspector.css', 'inspector.js'])
      const serve = await startServe(['--demo', '--inspect', '0'], isolated(join(dir(), 'inspect-home')), installed)
      servers.push(serve)
      const url = String(JSON.parse(serve.stderr.find((line) => line.includes('"listening"'))!).inspector)
      for (const path of ['', 'inspect/inspector.js', 'inspect/inspector.css']) {
        const response = await fetch(url + path)
        assert.equal(response.status, 200, path)
        assert.ok((await response.text()).length > 100, path)
      }
    })

    it('works without the binding (as when it cannot be built): ssh2 falls back to node:crypto', async (t) => {
      if (skipped(t)) return
      const built = existsSync(binding)
      if (built) await rename(binding, `${binding}.hidden`)
      try {
        const {serve, stdout} = await serveAndCall(join(dir(), 'fallback-home'), ['--demo'], '/hello')
        assert.equal(stdout, '{"msg":"Hello World!"}\n')
        if (existsSync('/proc/self/maps')) assert.equal(await loadsBinding(serve.child.pid!), false)
      } finally {
        if (built) await rename(`${binding}.hidden`, binding)
      }
    })

    it('loads a TypeScript --routes module through the installed tsx', async (t) => {
      if (skipped(t)) return
      const routes = join(dir(), 'routes.ts')
      await writeFile(routes, "export default {'GET /typed': (): {typed: boolean} => ({typed: true})}\n")
      const {stdout} = await serveAndCall(join(dir(), 'routes-home'), ['--routes', routes], '/typed')
      assert.equal(stdout, '{"typed":true}\n')
    })
  })

  it('exports the library entries restwire/korv, restwire/tunnel, restwire/pipe and restwire/relay', async (t) => {
    if (skipped(t)) return
    const script = "for (const entry of ['korv', 'tunnel', 'pipe', 'relay']) console.log(entry, Object.keys(await import('restwire/' + entry)).sort().join(' '))"
    const {stdout} = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {cwd: join(packageDir, '..', '..'), env: {...process.env, ...isolated('')}, timeout: 30_000})
    assert.match(stdout, /^korv .*\bKorvClient\b.*\bcreateKorvServer\b/m)
    assert.match(stdout, /^tunnel .*\bcallTunnelNode\b.*\blistTunnelNodes\b.*\bopenTunnelStream\b.*\bstartTunnelGateway\b/m)
    assert.match(stdout, /^pipe .*\bcallPipeGateway\b.*\bstartPipeHub\b/m)
    assert.match(stdout, /^relay .*\bRelayLineDecoder\b.*\bsendRelayRequest\b/m)
  })
})
