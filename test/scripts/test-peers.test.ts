// The test peers: finding a tool on PATH (scripts/peer-tools.mjs), the skip it causes when missing
// (test/helpers/tools.ts) and npm test's summary of those skips (scripts/test.mjs), and
// `npm run test:peers` printing the apt command when it cannot install (scripts/peers.mjs).
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {chmod, mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {TOOLS, findTool} from '../../scripts/peer-tools.mjs'
import {root} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'

/** A shell script `dir/name` that exits with `code`. */
async function fakeTool(dir: string, name: string, code = 0): Promise<string> {
  await mkdir(dir, {recursive: true})
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\nexit ${code}\n`)
  await chmod(path, 0o755)
  return path
}

/** Runs a node script from the clone with only `PATH` in its environment; never throws. */
function runNode(args: string[], path: string): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, {cwd: root, env: {PATH: path, HOME: process.env.HOME ?? '/'}, timeout: 120_000}, (error, stdout, stderr) =>
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })
}

describe('test peers', {timeout: 180_000}, () => {
  const dir = useTempDir('restwire-peers-')

  it('names a Debian package for every tool', () => {
    for (const [name, tool] of Object.entries(TOOLS)) assert.match(tool.pkg, /^[a-z0-9][a-z0-9.+-]+$/, name)
    assert.equal(TOOLS.socat!.pkg, 'socat')
    assert.equal(TOOLS['ssh-keygen']!.pkg, 'openssh-client')
    assert.equal(TOOLS['python3-asyncssh']!.pkg, 'python3-asyncssh')
  })

  it('finds a tool on PATH, not one missing from it, and throws on a name not in the list', async () => {
    const socat = await fakeTool(join(dir(), 'bin'), 'socat')
    const empty = join(dir(), 'empty')
    await mkdir(empty)
    assert.equal(findTool('socat', {PATH: `${empty}:${join(dir(), 'bin')}`}), socat)
    assert.equal(findTool('socat', {PATH: empty}), undefined)
    assert.throws(() => findTool('no-such-tool', {PATH: empty}), /unknown tool no-such-tool: add it to scripts\/peer-tools.mjs/)
  })

  it('python3-asyncssh: the first python3 on PATH that passes the import probe', async () => {
    await fakeTool(join(dir(), 'py-without'), 'python3', 1)
    const withIt = await fakeTool(join(dir(), 'py-with'), 'python3', 0)
    assert.equal(findTool('python3-asyncssh', {PATH: `${join(dir(), 'py-without')}:${join(dir(), 'py-with')}`}), withIt)
    assert.equal(findTool('python3-asyncssh', {PATH: join(dir(), 'py-without')}), undefined)
  })

  it('npm test without socat and zsh: the skips, one loud line per tool, and the summary line', async () => {
    const empty = join(dir(), 'empty-for-run')
    await mkdir(empty)
    const run = await runNode([join('scripts', 'test.mjs'), join('test', 'fixtures', 'tool-skips.ts')], empty)
    assert.equal(run.code, 0, run.stdout + run.stderr)
    // Piped, node:test writes TAP: skip reasons after `# SKIP`, stderr lines as `# ` comments.
    assert.match(run.stdout, /# SKIP missing tool: socat \(Debian package socat: apt-get install -y socat, or npm run test:peers\)/)
    assert.match(run.stdout, /# SKIP missing tools: zsh, socat \(Debian packages zsh, socat: apt-get install -y socat zsh, or npm run test:peers\)/)
    const loud = run.stdout.split('\n').filter((line) => line.includes('*** SKIPPED, no socat'))
    assert.equal(loud.length, 1, 'one loud line for socat')
    assert.match(loud[0]!, /Debian package socat, install with `apt-get install -y socat` as root, or `npm run test:peers`/)
    assert.match(run.stdout, /^# pass 1$/m)
    assert.match(run.stdout, /\nSkipped for a missing tool: 1 suite and 1 test \(socat, zsh\); `npm run test:peers` installs them\.\n$/)
  })

  it('npm test with nothing missing: the failed test named with its error, then the line saying nothing was skipped', async () => {
    const bin = join(dir(), 'all-tools')
    await Promise.all([fakeTool(bin, 'socat'), fakeTool(bin, 'zsh')])
    const run = await runNode([join('scripts', 'test.mjs'), join('test', 'fixtures', 'tool-skips.ts')], bin)
    // The fake tools exist, so the test that throws when they are missing runs and fails: exit 1.
    assert.equal(run.code, 1, run.stdout + run.stderr)
    // The failed test is named at the end with its error, however long the log above it.
    assert.match(
      run.stdout,
      /\nFailed: 1 test\n {2}test\/fixtures\/tool-skips\.ts: skips inside the test: ran although zsh and socat are missing\n\nNo test skipped for a missing tool\.\n$/,
    )
  })

  it('test:peers, unable to install (no apt-get on PATH): names what is missing and prints the apt command', async () => {
    const bin = join(dir(), 'peers-bin')
    await fakeTool(bin, 'zsh')
    const run = await runNode([join('scripts', 'peers.mjs'), 'socat', 'zsh', 'ssh-keygen'], bin)
    assert.equal(run.code, 0, run.stderr)
    assert.equal(
      run.stdout,
      'test:peers: missing socat, ssh-keygen (Debian openssh-client socat)\ntest:peers: run as root: apt-get update && apt-get install -y openssh-client socat\n',
    )
    const present = await runNode([join('scripts', 'peers.mjs'), 'zsh'], bin)
    assert.equal(present.stdout, 'test:peers: all present (zsh)\n')
    const unknown = await runNode([join('scripts', 'peers.mjs'), 'telnet'], bin)
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown tool telnet/)
  })
})
