// Every parse error comes out in restwire's format (message, hint, code, exit code; one JSON document
// with --json), never in oclif's words; mistyped commands and flags get a suggestion.
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {restwire, root, spawnCli} from '../helpers/cli.js'

const home = mkdtempSync(join(tmpdir(), 'rw-errors-'))
after(() => rmSync(home, {force: true, recursive: true}))
const env = {NO_COLOR: '1', RESTWIRE_HOME: home}

interface ParseCase {
  kind: string
  args: string[]
  message: string | RegExp
  hint: RegExp
}

const cases: ParseCase[] = [
  {args: ['korv', 'call', '--tiemout', '3s', 'GET', '/'], hint: /^Did you mean --timeout\? See `restwire korv call --help`\.$/, kind: 'unknown flag', message: 'unknown flag --tiemout'},
  {args: ['korv', 'call', 'GET', '/', '--timeout'], hint: /^Pass it as --timeout VALUE or --timeout=VALUE\./, kind: 'missing value', message: '--timeout needs a value'},
  {args: ['relay', 'check'], hint: /^See `restwire relay check --help`\.$/, kind: 'missing required flag', message: 'missing required flag --config'},
  {args: ['korv', 'call', '--data', '{x', 'GET', '/'], hint: /--data @file\.json/, kind: 'custom flag parser (restwire error)', message: /^--data is not valid JSON: /},
  {args: ['korv', 'call', '--timeout', 'soon', 'GET', '/'], hint: /^See `restwire korv call --help`\.$/, kind: 'custom flag parser (generic hint)', message: '--timeout takes a duration (500ms, 30s, 2m, 1h, or a number of seconds), got "soon"'},
  {args: ['korv', 'call', '--to', '99999', 'GET', '/'], hint: /^--to takes HOST:PORT, \[IPv6\]:PORT, PORT or HOST \(port 8022\), e\.g\. /, kind: 'address', message: '--to has port 99999; a port is 1-65535, got "99999"'},
  {args: ['relay', 'start', '-c', 'x', '--listen', 'http://127.0.0.1:1'], hint: /^--listen takes \[tcp:\/\/\]HOST:PORT, .* or unix:\/path\/to\.sock/, kind: 'address scheme', message: '--listen takes only tcp://, got "http://127.0.0.1:1"'},
  {args: ['korv', 'call', '-p', '2222', 'GET', '/'], hint: /restwire korv call --help/, kind: 'replaced short flag', message: '-p (--port) was replaced by --to HOST:PORT'},
  {args: ['korv', 'call', '--host=api.example.com', 'GET', '/'], hint: /restwire korv call --help/, kind: 'replaced flag', message: '--host was replaced by --to HOST:PORT (a bare HOST means port 8022)'},
  {args: ['korv', 'call', '-t', '5s', 'GET', '/'], hint: /restwire korv call --help/, kind: 'timeout short flag', message: /^-t is no longer a short flag: timeouts are --timeout DURATION/},
  {args: ['korv', 'serve', '--port', '2222'], hint: /restwire korv serve --help/, kind: 'replaced server flag', message: '--port was replaced by --listen HOST:PORT (a bare PORT means 127.0.0.1:PORT)'},
  {args: ['tunnel', 'gateway', '--host', '0.0.0.0'], hint: /restwire tunnel gateway --help/, kind: 'replaced gateway flag', message: '--host was replaced by --listen HOST:PORT (a bare PORT means 127.0.0.1:PORT)'},
  {args: ['pipe', 'serve', '-p', '7443'], hint: /restwire pipe serve --help/, kind: 'replaced pipe flag', message: '-p was replaced by --listen HOST:PORT (a bare PORT means 127.0.0.1:PORT)'},
  {args: ['keys', 'ca', '--out', 'pki'], hint: /restwire keys ca --help/, kind: 'replaced keys flag', message: '--out was replaced by --dir DIR'},
  {args: ['keys', 'ca', '--dir', 'pki', '--name', 'Acme'], hint: /restwire keys ca --help/, kind: 'replaced CA name flag', message: '--name was replaced by --common-name NAME (--name is an identity name)'},
  {args: ['keys', 'gen', '--out', 'k'], hint: /restwire keys gen --help/, kind: 'replaced key file flag', message: '--out was replaced by -f, --file PATH (as ssh-keygen -f)'},
  {args: ['relay', 'start', '--config', 'x', '--max-connections', 'abc'], hint: /restwire relay start --help/, kind: 'built-in flag parser', message: '--max-connections: expected an integer but received: abc'},
  {args: ['korv', 'call', 'GET', '/a', 'b'], hint: /^`restwire korv call` takes VERB PATH; quote a value that has spaces\./, kind: 'unexpected argument', message: 'unexpected argument "b"'},
  {args: ['korv', 'serve', '--demo', '--routes', 'x.js'], hint: /^Pass only one of them\.$/, kind: 'exclusive flags', message: '--demo and --routes cannot be used together'},
  {args: ['keys', 'gen', '--type', 'dsa'], hint: /restwire keys gen --help/, kind: 'value not among the options', message: '--type must be one of ed25519, rsa, ecdsa, got "dsa"'},
  {args: ['keys', 'ca', '--dir', join(home, 'pki'), '--hub', 'web'], hint: /restwire keys ca --help/, kind: 'dependent flag', message: '--hub needs --quickstart'},
  {args: ['keys', 'gen', '--comment', 'a', '--comment', 'b'], hint: /^Pass --comment once\./, kind: 'flag given twice', message: '--comment was given more than once'},
]

function assertMessage(actual: string, expected: string | RegExp): void {
  if (typeof expected === 'string') assert.equal(actual, expected)
  else assert.match(actual, expected)
}

describe('parse errors', () => {
  for (const {args, hint, kind, message} of cases) {
    it(`${kind}: text on stderr`, async () => {
      const result = await restwire(args, env)
      assert.equal(result.code, 2, result.stderr)
      assert.equal(result.stdout, '')
      const lines = result.stderr.trimEnd().split('\n')
      assert.equal(lines.length, 3, result.stderr)
      assert.match(lines[0]!, /^Error: /)
      assertMessage(lines[0]!.slice('Error: '.length), message)
      assert.match(lines[1]!, /^Hint: /)
      assert.match(lines[1]!.slice('Hint: '.length), hint)
      assert.equal(lines[2], '  (RW_ERR_USAGE, exit 2)')
      assert.doesNotMatch(result.stderr, /See more help|Nonexistent|The following|Parsing --/)
    })

    it(`${kind}: one JSON document with --json`, async () => {
      const result = await restwire([...args, '--json'], env)
      assert.equal(result.code, 2, result.stderr)
      assert.equal(result.stderr, '')
      const {error} = JSON.parse(result.stdout) as {error: {code: string; exitCode: number; hint: string; message: string}}
      assert.equal(error.code, 'RW_ERR_USAGE')
      assert.equal(error.exitCode, 2)
      assertMessage(error.message, message)
      assert.match(error.hint, hint)
    })
  }
})

describe('mistyped commands', () => {
  it('suggests the nearest command, keeping the rest of the line', async () => {
    const result = await restwire(['korv', 'cal', 'GET', '/hello'], env)
    assert.equal(result.code, 2)
    assert.equal(
      result.stderr,
      'Error: unknown command `korv cal`\nHint: Did you mean `restwire korv call GET /hello`? Run `restwire help` for every command.\n  (RW_ERR_USAGE, exit 2)\n',
    )
  })

  it('as one JSON document with --json', async () => {
    const result = await restwire(['kovr', 'call', 'GET', '/x y', '--json'], env)
    assert.equal(result.code, 2)
    assert.equal(result.stderr, '')
    const {error} = JSON.parse(result.stdout) as {error: Record<string, unknown>}
    assert.deepEqual(error, {
      code: 'RW_ERR_USAGE',
      command: 'kovr call',
      exitCode: 2,
      hint: "Did you mean `restwire korv call GET '/x y' --json`? Run `restwire help` for every command.",
      message: 'unknown command `kovr call`',
      suggestion: 'korv call',
    })
  })

  it('lists the commands of a known topic when nothing is near', async () => {
    const result = await restwire(['tunnel', 'launch'], env)
    assert.equal(result.code, 2)
    assert.match(result.stderr, /^Error: unknown command `tunnel launch`\nHint: The tunnel commands are tunnel call, tunnel expose, tunnel gateway, tunnel nodes\./)
  })

  it('gives no suggestion for a word that is nothing like a command', async () => {
    const result = await restwire(['xyzzy'], env)
    assert.equal(result.code, 2)
    assert.equal(result.stderr, 'Error: unknown command `xyzzy`\nHint: Run `restwire help` for every command.\n  (RW_ERR_USAGE, exit 2)\n')
  })
})

describe('help and version', () => {
  it('`restwire help` lists every command with its summary, and where the docs are', async () => {
    const manifest = JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {summary?: string}>}
    const result = await restwire(['help'], {...env, OCLIF_COLUMNS: '400'})
    assert.equal(result.code, 0, result.stderr)
    assert.ok(Object.keys(manifest.commands).length >= 17)
    for (const [id, command] of Object.entries(manifest.commands)) {
      assert.ok(command.summary, `${id} has a summary`)
      assert.match(result.stdout, new RegExp(`^  ${id.replaceAll(':', ' ')} +${escape(command.summary!)}$`, 'm'))
    }

    assert.match(result.stdout, /^DOCS\n {2}restwire COMMAND --help +flags, arguments, examples and exit codes of one command$/m)
    assert.ok(result.stdout.includes(join(root, 'README.md')))
    assert.ok(result.stdout.includes(join(root, 'docs') + '/'))
    assert.equal((await restwire(['--help'], {...env, OCLIF_COLUMNS: '400'})).stdout, result.stdout)
  })

  it('`restwire help korv call` is `restwire korv call --help`', async () => {
    const viaHelp = await restwire(['help', 'korv', 'call'], env)
    assert.equal(viaHelp.code, 0, viaHelp.stderr)
    assert.match(viaHelp.stdout, /^Call a korv server/)
    assert.equal(viaHelp.stdout, (await restwire(['korv', 'call', '--help'], env)).stdout)
  })

  it('`restwire help` with a mistyped command suggests the help of the nearest one', async () => {
    const result = await restwire(['help', 'korv', 'cal'], env)
    assert.equal(result.code, 2)
    assert.equal(result.stdout, '')
    assert.equal(result.stderr, 'Error: unknown command `korv cal`\nHint: Did you mean `restwire help korv call`? Run `restwire help` for every command.\n  (RW_ERR_USAGE, exit 2)\n')
  })

  it('`restwire version` is `restwire --version`; --json gives the parts', async () => {
    const {version} = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {version: string}
    const result = await restwire(['version'], env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, `restwire/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
    assert.equal((await restwire(['--version'], env)).stdout, result.stdout)
    const json = JSON.parse((await restwire(['version', '--json'], env)).stdout) as Record<string, string>
    assert.deepEqual(json, {arch: process.arch, node: process.version, platform: process.platform, version})
  })
})

function escape(text: string): string {
  return text.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

describe('usage hints name the command that failed', () => {
  const hintCases: Array<{args: string[]; message: string; hint: string}> = [
    {args: ['korv', 'call'], hint: 'Pass them as arguments, e.g. restwire korv call GET /hello, and the body with --data.', message: 'missing VERB and PATH, and stdin is not a terminal to ask on'},
    {args: ['korv', 'call', 'GET'], hint: 'Pass it as an argument, e.g. restwire korv call GET /hello, and the body with --data.', message: 'missing PATH, and stdin is not a terminal to ask on'},
    {args: ['pipe', 'call'], hint: 'Pass them as arguments, e.g. restwire pipe call GET /client/fileserver/time, and the body with --data.', message: 'missing VERB and PATH, and stdin is not a terminal to ask on'},
    {args: ['pipe', 'call', 'GET'], hint: 'Pass it as an argument, e.g. restwire pipe call GET /client/fileserver/time, and the body with --data.', message: 'missing PATH, and stdin is not a terminal to ask on'},
    {args: ['tunnel', 'call'], hint: 'Pass it first, e.g. restwire tunnel call demo GET /home.', message: 'missing NODE: the id of a node connected to the gateway (see `restwire tunnel nodes`)'},
    {args: ['tunnel', 'call', 'api-1'], hint: 'Pass them as arguments, e.g. restwire tunnel call api-1 GET /home, and the body with --data.', message: 'missing VERB and PATH, and stdin is not a terminal to ask on'},
    {args: ['korv', 'call', '--interactive', 'GET', '/x'], hint: 'Leave out --interactive and pass the request as arguments, e.g. restwire korv call GET /hello.', message: '--interactive needs a terminal, and stdin is not a terminal to ask on'},
  ]
  for (const {args, hint, message} of hintCases) {
    it(`restwire ${args.join(' ')}`, async () => {
      const result = await restwire([...args, '--json'], env)
      assert.equal(result.code, 2, result.stderr)
      const {error} = JSON.parse(result.stdout) as {error: {code: string; hint: string; message: string}}
      assert.deepEqual({code: error.code, hint: error.hint, message: error.message}, {code: 'RW_ERR_USAGE', hint, message})
    })
  }
})

describe('keys ca on an existing CA', () => {
  it('points at keys cert to add identities, and says --force replaces the CA', async () => {
    const dir = join(home, 'pki')
    assert.equal((await restwire(['keys', 'ca', '--dir', dir, '--quickstart'], env)).code, 0)
    for (const args of [['keys', 'ca', '--dir', dir, '--quickstart'], ['keys', 'ca', '--dir', dir]]) {
      const result = await restwire(args, env)
      assert.equal(result.code, 10, result.stderr)
      assert.equal(
        result.stderr,
        `Error: ${join(dir, 'ca.pem')} already exists: ${dir} already holds a CA\n` +
          `Hint: To add identities to this CA, run: restwire keys cert --ca ${dir} --name NAME. --force would replace the CA, and peers holding the new ca.pem then refuse every identity the old one signed.\n` +
          '  (RW_ERR_FILE_EXISTS, exit 10)\n',
      )
    }

    const added = await restwire(['keys', 'cert', '--ca', dir, '--name', 'node2'], env)
    assert.equal(added.code, 0, added.stderr)
  })
})

describe('relay start on a UNIX socket in a missing directory', () => {
  it('says the directory does not exist, not "permission denied"', async () => {
    const config = join(home, 'relay.json')
    writeFileSync(config, JSON.stringify({requests: {ping: {method: 'GET', url: 'http://127.0.0.1:1/'}}}))
    const dir = join(home, 'missing', 'dir')
    const result = await restwire(['relay', 'start', '--config', config, '--listen', `unix:${join(dir, 's.sock')}`], env)
    assert.equal(result.code, 3, result.stderr)
    assert.equal(
      result.stderr,
      `Error: cannot listen on unix:${join(dir, 's.sock')}: the directory ${dir} does not exist\n` +
        `Hint: Create the directory (mkdir -p ${dir}), or choose another --listen path.\n` +
        '  (RW_ERR_CONNECT, exit 3)\n',
    )
  })
})

describe('pipe connect to a name that does not resolve', () => {
  it('says so in each retry line and keeps redialling', async () => {
    const pki = join(home, 'pipe-pki')
    assert.equal((await restwire(['keys', 'ca', '--dir', pki, '--quickstart'], env)).code, 0)
    const node = spawnCli(['pipe', 'connect', '--ca', pki, '--name', 'node1', '--to', 'no-such-hub.invalid:9443', '--http', '127.0.0.1:0', '--serve-dir', home, '--log-format', 'json'], env)
    try {
      const first = await node.waitForLog(/"event":"retrying"/)
      assert.equal(first.hint, "the hub's name does not resolve: check --to (still redialling)")
      const disconnected = await node.waitForLog(/"event":"disconnected"/)
      assert.match(String(disconnected.reason), /^cannot resolve no-such-hub\.invalid: (no such host|the name server did not answer)$/)
      const index = node.stderr.findIndex((line) => line.includes('"retrying"'))
      const second = await node.waitForLog(/"event":"retrying"/, index + 1)
      assert.equal(second.attempt, 2)
      assert.equal(second.hint, first.hint)
    } finally {
      assert.equal(await node.stop(), 0)
    }
  })
})
