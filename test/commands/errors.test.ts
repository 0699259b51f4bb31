// Every parse error comes out in restwire's format (message, hint, code, exit code; one JSON document
// with --json), never in oclif's words; mistyped commands and flags get a suggestion.
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {restwire} from '../helpers/cli.js'

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
  {args: ['relay', 'start', '--config', 'x', '--max-connections', 'abc'], hint: /restwire relay start --help/, kind: 'built-in flag parser', message: '--max-connections: expected an integer but received: abc'},
  {args: ['korv', 'call', 'GET', '/a', 'b'], hint: /^`restwire korv call` takes VERB PATH; quote a value that has spaces\./, kind: 'unexpected argument', message: 'unexpected argument "b"'},
  {args: ['korv', 'serve', '--demo', '--routes', 'x.js'], hint: /^Pass only one of them\.$/, kind: 'exclusive flags', message: '--demo and --routes cannot be used together'},
  {args: ['keys', 'gen', '--type', 'dsa'], hint: /restwire keys gen --help/, kind: 'value not among the options', message: '--type must be one of ed25519, rsa, ecdsa, got "dsa"'},
  {args: ['keys', 'ca', '--out', join(home, 'pki'), '--hub', 'web'], hint: /restwire keys ca --help/, kind: 'dependent flag', message: '--hub needs --quickstart'},
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
