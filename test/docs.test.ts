// Docs that are tested: every ```console example in README.md and docs/*.md runs, in file order, against
// the built CLI and real servers, and its output must match the page (test/docs/run-docs.ts; the
// conventions are in docs/contributing.md). Each page runs in a runner process of its own, which puts
// itself in a private namespace when the machine allows one (test/docs/namespace.ts), so the documented
// default ports (8022, 8080, 7443, ...) are free and other tests' servers are out of reach.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {root} from './helpers/cli.js'
import type {DocFileResult} from './docs/run-docs.js'

const PAGE_TIMEOUT_MS = 110_000
// Skips need a reason and should stay rare: a page that can only be skipped is not tested.
const MAX_SKIPPED_BLOCKS = 8
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => join('docs', name))]
const runner = [process.execPath, '--import', 'tsx', join(root, 'test', 'docs', 'run-docs.ts'), '--json']

function runPage(page: string): Promise<DocFileResult> {
  return new Promise((resolve, reject) => {
    execFile(runner[0]!, [...runner.slice(1), page], {cwd: root, timeout: PAGE_TIMEOUT_MS, maxBuffer: 16 << 20}, (error, stdout, stderr) => {
      try {
        resolve((JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as DocFileResult[])[0]!)
      } catch {
        reject(new Error(`the docs runner failed on ${page}: ${error?.message ?? ''}\n${stderr}${stdout}`))
      }
    })
  })
}

describe('docs: every console example runs as written', () => {
  let skipped = 0
  for (const page of pages) {
    it(page, async (t) => {
      const result = await runPage(page)
      if (!result.isolated) t.diagnostic('*** no private namespace (unshare refused): servers bound the documented ports on this machine ***')
      for (const skip of result.skipped) t.diagnostic(`skipped ${skip.file}:${skip.line}: ${skip.reason}`)
      skipped += result.skipped.length
      t.diagnostic(`${result.commands} commands run, ${result.skipped.length} blocks skipped`)
      assert.deepEqual(result.failures.map((failure) => failure.message), [], `${page}: examples that drifted from the code`)
    })
  }
  it(`skips at most ${MAX_SKIPPED_BLOCKS} blocks`, () => {
    assert.ok(skipped <= MAX_SKIPPED_BLOCKS, `${skipped} doc blocks are skipped`)
  })
})
