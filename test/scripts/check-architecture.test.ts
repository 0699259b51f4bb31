// scripts/check-architecture.mjs (run by `npm run lint`), on copies of the clone's src/ and
// docs/architecture.md: a file without a row, a row without a file and import cycles must each fail
// with a message that says what to change; the unchanged copy must pass.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {root} from '../helpers/cli.js'

const script = join(root, 'scripts/check-architecture.mjs')
const copies: string[] = []
after(async () => {
  await Promise.all(copies.map((dir) => rm(dir, {recursive: true, force: true})))
})

/** A fresh copy of src/ and docs/architecture.md to break. */
async function copyOfClone(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'restwire-archcheck-'))
  copies.push(dir)
  await cp(join(root, 'src'), join(dir, 'src'), {recursive: true})
  await cp(join(root, 'docs/architecture.md'), join(dir, 'docs/architecture.md'))
  return dir
}

function check(dir: string): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, dir], {timeout: 60_000}, (error, stdout, stderr) =>
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })
}

describe('check-architecture', {timeout: 120_000}, () => {
  it('passes on the clone as it is', async () => {
    const result = await check(await copyOfClone())
    assert.equal(result.stderr, '')
    assert.equal(result.code, 0)
    assert.match(result.stdout, /names all \d+ files of src\/; src\/index\.ts imports every command; no import cycles/)
  })

  it('names a file of src/ that the doc lacks, with the row to add and where', async () => {
    const dir = await copyOfClone()
    await writeFile(join(dir, 'src/core/tunnel/http-client.ts'), "// The gateway's HTTP API seen from a client. Second sentence.\nexport const x = 1\n")
    await mkdir(join(dir, 'src/core/widgets'))
    await writeFile(join(dir, 'src/core/widgets/gear.ts'), '// Gears.\nexport const y = 2\n')
    const result = await check(dir)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /does not name 2 files of src\/: src\/core\/tunnel\/http-client\.ts, src\/core\/widgets\/gear\.ts\./)
    const where = result.stderr.match(
      /in the `src\/core\/tunnel\/` table \(docs\/architecture\.md:(\d+), append after line (\d+)\):\n {4}\| `http-client\.ts` \| The gateway's HTTP API seen from a client\. \|\n/,
    )
    assert.ok(where, result.stderr)
    // The lines named are the table's header and its last row.
    const doc = (await readFile(join(dir, 'docs/architecture.md'), 'utf8')).split('\n')
    const [header, last] = [Number(where[1]), Number(where[2])]
    assert.equal(doc[header - 1], '| File | |')
    assert.ok(doc.slice(header - 1, last).every((line) => line.startsWith('|')))
    assert.ok(!doc[last]?.startsWith('|'))
    assert.ok(doc.slice(header, last).some((line) => line.startsWith('| `gateway.ts` |')))
    // A new folder goes in its nearest documented ancestor's table, named from there.
    assert.match(result.stderr, /in the `src\/core\/` table \(docs\/architecture\.md:\d+, append after line \d+\):\n {4}\| `widgets\/gear\.ts` \|/)
  })

  it('names a row whose file is gone, and a full src/ path in prose that is gone', async () => {
    const dir = await copyOfClone()
    await rm(join(dir, 'src/core/relay/limits.ts'))
    await appendFile(join(dir, 'docs/architecture.md'), '\nSee `src/cli/gone.ts`.\n')
    const result = await check(dir)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /docs\/architecture\.md:\d+: names `limits\.ts` \(src\/core\/relay\/limits\.ts\), which does not exist: remove it from the row/)
    assert.match(result.stderr, /docs\/architecture\.md:\d+: names `src\/cli\/gone\.ts`, which does not exist/)
    assert.doesNotMatch(result.stderr, /does not name/)
  })

  it('names a command that src/index.ts does not import', async () => {
    const dir = await copyOfClone()
    const index = join(dir, 'src/index.ts')
    await writeFile(index, (await readFile(index, 'utf8')).replace("import RelayCheck from './commands/relay/check.js'\n", '').replace('  \'relay:check\': RelayCheck,\n', ''))
    const result = await check(dir)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /^src\/index\.ts does not import src\/commands\/relay\/check\.ts: import it and add it to COMMANDS/m)
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
  })

  it('prints a direct import cycle', async () => {
    const dir = await copyOfClone()
    // waiters.ts already imports clock.ts.
    await appendFile(join(dir, 'src/core/link/clock.ts'), "import './waiters.js'\n")
    const result = await check(dir)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Import cycle in src\/: src\/core\/link\/clock\.ts → src\/core\/link\/waiters\.ts → src\/core\/link\/clock\.ts\n/)
    assert.match(result.stderr, / {2}src\/core\/link\/clock\.ts:\d+ imports src\/core\/link\/waiters\.ts\n {2}src\/core\/link\/waiters\.ts:3 imports src\/core\/link\/clock\.ts/)
  })

  it('prints a longer cycle, through type-only and lazy imports too', async () => {
    const dir = await copyOfClone()
    // clock.ts → session.ts → waiters.ts → clock.ts (the last edge is already there).
    await appendFile(join(dir, 'src/core/link/clock.ts'), "export type S = import('./session.js').LinkSession\n")
    await appendFile(join(dir, 'src/core/link/session.ts'), "export async function later(): Promise<unknown> {\n  return import('./waiters.js')\n}\n")
    const result = await check(dir)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Import cycle in src\/: src\/core\/link\/clock\.ts → src\/core\/link\/session\.ts → src\/core\/link\/waiters\.ts → src\/core\/link\/clock\.ts\n/)
    assert.equal(result.stderr.match(/Import cycle/g)?.length, 1)
  })
})
