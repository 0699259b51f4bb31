// Docs that are tested: every ```console example in README.md and docs/*.md runs, in file order, against
// the built CLI and real servers, and its output must match the page (test/docs/run-docs.ts; the
// conventions are in docs/contributing.md). Each page runs in a child process of its own, inside a
// private network namespace when the machine allows one (unshare), so the documented default ports
// (8022, 8080, 7443, ...) are free and other tests' servers are out of reach.
import assert from 'node:assert/strict'
import {execFile, spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {root} from './helpers/cli.js'
import type {DocFileResult} from './docs/run-docs.js'

const PAGE_TIMEOUT_MS = 110_000
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => join('docs', name))]
const runner = [process.execPath, '--import', 'tsx', join(root, 'test', 'docs', 'run-docs.ts'), '--json']
// A user and network namespace of our own (loopback up), and a PID namespace so that nothing a page
// started outlives it.
const namespace = ['unshare', '--user', '--map-root-user', '--net', '--pid', '--fork', '--kill-child', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh']
const probe = spawnSync(namespace[0]!, [...namespace.slice(1), 'true'], {encoding: 'utf8'})
const isolated = probe.status === 0
if (!isolated) {
  process.stderr.write(
    `*** docs test: no private network namespace (${(probe.stderr || String(probe.error ?? '')).trim() || 'unshare failed'}): ` +
      'the servers of the examples bind the documented default ports on this machine ***\n',
  )
}

function runPage(page: string): Promise<DocFileResult> {
  const argv = isolated ? [...namespace, ...runner, page] : [...runner, page]
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), {cwd: root, timeout: PAGE_TIMEOUT_MS, maxBuffer: 16 << 20}, (error, stdout, stderr) => {
      const last = stdout.trim().split('\n').at(-1) ?? ''
      try {
        resolve((JSON.parse(last) as DocFileResult[])[0]!)
      } catch {
        reject(new Error(`the docs runner failed on ${page}: ${error?.message ?? ''}\n${stderr}${stdout}`))
      }
    })
  })
}

describe('docs: every console example runs as written', () => {
  let skippedTotal = 0
  for (const page of pages) {
    it(page, async (t) => {
      const result = await runPage(page)
      for (const skip of result.skipped) t.diagnostic(`skipped ${skip.file}:${skip.line}: ${skip.reason}`)
      skippedTotal += result.skipped.length
      t.diagnostic(`${result.commands} commands run, ${result.skipped.length} blocks skipped`)
      assert.deepEqual(result.failures.map((failure) => failure.message), [], `${page}: examples that drifted from the code`)
    })
  }
  it('keeps skipped blocks few', () => {
    // Skips need a reason and should stay rare: a page that can only be skipped is not tested.
    assert.ok(skippedTotal <= 12, `${skippedTotal} doc blocks are skipped`)
  })
})
