// Runs every test file under test/ with node:test and tsx (Node 20's --test takes no globs), then names
// each failed test with its error's first line, and says how many suites and tests were skipped for a
// missing tool (test/helpers/tools.ts), and which tools.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

const find = (dir) =>
  readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return find(path)
    return entry.name.endsWith('.test.ts') ? [path] : []
  })

/** The failed tests, one line each (file, name, error), or nothing when none failed. */
function failures(records) {
  // A file's own failure only when none of its tests is named (it crashed, or failed outside a test).
  const named = new Set(records.filter((record) => record.kind === 'fail' && record.name !== 'whole file').map((record) => record.file))
  const failed = records.filter((record) => record.kind === 'fail' && !(record.name === 'whole file' && named.has(record.file)))
  if (failed.length === 0) return ''
  const lines = failed.map((record) => `  ${record.file ? relative(process.cwd(), record.file) : '?'}: ${record.name}: ${record.error}`)
  return `\nFailed: ${failed.length} test${failed.length === 1 ? '' : 's'}\n${lines.join('\n')}\n`
}

/** One line from the tool-skips reporter's records: counts by kind, and the tools named. */
function summarize(records) {
  records = records.filter((record) => record.kind !== 'fail')
  if (records.length === 0) return 'No test skipped for a missing tool.'
  const count = (kind, noun) => {
    const n = records.filter((record) => record.kind === kind).length
    return n === 0 ? [] : [`${n} ${noun}${n === 1 ? '' : 's'}`]
  }
  const tools = [...new Set(records.flatMap((record) => record.tools))].sort()
  return `Skipped for a missing tool: ${[...count('suite', 'suite'), ...count('test', 'test')].join(' and ')} (${tools.join(', ')}); \`npm run test:peers\` installs them.`
}

const files = process.argv.length > 2 ? process.argv.slice(2) : find('test').sort()
const skipsDir = mkdtempSync(join(tmpdir(), 'restwire-skips-'))
const skipsFile = join(skipsDir, 'skips.ndjson')
// Naming a reporter replaces node's default, so the default (spec on a terminal, else tap) is named too.
const result = spawnSync(
  process.execPath,
  [
    '--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000',
    '--test-reporter', process.stdout.isTTY ? 'spec' : 'tap', '--test-reporter-destination', 'stdout',
    '--test-reporter', new URL('tool-skips-reporter.mjs', import.meta.url).href, '--test-reporter-destination', skipsFile,
    ...files,
  ],
  {stdio: 'inherit'},
)
let records = []
try {
  records = readFileSync(skipsFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
} catch {
  // No file: node:test did not get as far as reporting.
}

rmSync(skipsDir, {recursive: true, force: true})
console.log(`${failures(records)}\n${summarize(records)}`)
process.exit(result.status ?? 1)
