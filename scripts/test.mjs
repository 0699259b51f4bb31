// Runs every test file under test/ with node:test and tsx (Node 20's --test takes no globs).
import {spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'

const find = (dir) =>
  readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return find(path)
    return entry.name.endsWith('.test.ts') ? [path] : []
  })

const files = process.argv.length > 2 ? process.argv.slice(2) : find('test').sort()
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000', ...files],
  {stdio: 'inherit'},
)
process.exit(result.status ?? 1)
