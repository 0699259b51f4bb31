// The docs runner itself: a drifted example fails and names its line, and the normaliser forgives only
// what differs from run to run (fingerprints, times, ids, paths), never a word, field or status.
import assert from 'node:assert/strict'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {useTempDir} from '../helpers/ssh-tools.js'
import {waitFor} from '../helpers/wait.js'
import {DocSyntaxError, parseDocSteps} from './doc-blocks.js'
import {compareOutput, normaliseLine} from './normalise.js'
import {runDocFile} from './run-docs.js'

const KEYS_GEN = [
  '```console',
  "$ restwire keys gen -f ./deploy_key -C 'deploy bot'",
  'Generating public/private ed25519 key pair.',
  'Your identification has been saved in /home/ada/deploy_key',
  'Your public key has been saved in /home/ada/deploy_key.pub',
  'The key fingerprint is: SHA256:8G2hxKumP9DBj0GO6k7EbgqyQYOO7C4TgEtZhf6jHSw deploy bot',
  '```',
]

describe('docs runner', () => {
  const dir = useTempDir()

  async function run(lines: string[]): ReturnType<typeof runDocFile> {
    const path = join(dir(), 'page.md')
    await writeFile(path, lines.join('\n') + '\n')
    return runDocFile(path, 'page.md')
  }

  it('passes an example that matches, up to fingerprint and home directory', async () => {
    const result = await run(['# Keys', '', ...KEYS_GEN])
    assert.deepEqual(result.failures, [])
    assert.equal(result.commands, 1)
  })

  it('fails a drifted example and names the file and line', async () => {
    const drifted = KEYS_GEN.map((line) => line.replace('Your identification has been', 'Your identity was'))
    const result = await run(['# Keys', '', ...drifted])
    assert.equal(result.failures.length, 1)
    const [failure] = result.failures
    assert.equal(failure!.line, 6)
    assert.match(failure!.message, /^page\.md:6: output of `restwire keys gen/)
    assert.match(failure!.message, /doc: {4}"Your identity was saved in \/home\/ada\/deploy_key"/)
    assert.match(failure!.message, /actual: "Your identification has been saved in \/home\/ada\/deploy_key"/)
  })

  it('fails on a missing or an extra output line', async () => {
    const missing = await run([...KEYS_GEN.slice(0, 5), KEYS_GEN[6]!])
    assert.equal(missing.failures[0]?.line, 6)
    assert.match(missing.failures[0]!.message, /doc: {4}\(nothing\)/)
    const extra = await run([...KEYS_GEN.slice(0, 6), 'and one more line', KEYS_GEN[6]!])
    assert.equal(extra.failures[0]?.line, 7)
    assert.match(extra.failures[0]!.message, /actual: \(nothing\)/)
  })

  it('carries variables and the directory from one command to the next, reads file markers, counts skips', async () => {
    const result = await run([
      '<!-- docs-test: file greeting.txt -->',
      '```text',
      'hello from a file',
      '```',
      '```console',
      '$ export WHO=ada; mkdir -p sub && cd sub',
      '$ echo "$WHO in $(basename "$PWD")" && cat ../greeting.txt',
      'ada in sub',
      'hello from a file',
      '$ printf "%s\\n" one two three \\',
      '    | wc -l',
      '3',
      '$ printf "a\\nb\\nc\\nd\\n"',
      'a',
      '...',
      'd',
      '```',
      '<!-- docs-test: skip — needs a host that is not here -->',
      '```console',
      '$ ssh somewhere.example',
      '```',
    ])
    assert.deepEqual(result.failures, [])
    assert.equal(result.commands, 4)
    assert.deepEqual(result.skipped, [{file: 'page.md', line: 19, reason: 'needs a host that is not here'}])
  })

  it('runs a background command until the page ends, then stops it', async () => {
    const pidFile = join(dir(), 'server.pid')
    const result = await run([
      '```console',
      `$ sh -c 'echo $$ > ${pidFile}; echo "server listening"; exec sleep 600' &`,
      'server listening',
      '$ echo next',
      'next',
      '```',
    ])
    assert.deepEqual(result.failures, [])
    const pid = Number(await readFile(pidFile, 'utf8'))
    // Killed at the page's end; the kernel may take a moment to reap it on a loaded machine.
    await waitFor(() => {
      try {
        process.kill(pid, 0)
        return false
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'ESRCH'
      }
    }, 10_000, `process ${pid} to be gone`)
  })

  it('stops the page at a server that exits before it is ready, naming its line', async () => {
    const result = await run(['```console', '$ restwire korv serve --demo --upstream http://127.0.0.1:1', '$ echo never run', 'never run', '```'])
    assert.equal(result.commands, 1)
    assert.equal(result.failures.length, 1)
    assert.match(result.failures[0]!.message, /^page\.md:2: `restwire korv serve --demo --upstream http:\/\/127\.0\.0\.1:1` exited before it was ready/)
    assert.match(result.failures[0]!.message, /RW_ERR_USAGE/)
  })

  it('refuses an unknown marker and a console block without a command', () => {
    assert.throws(() => parseDocSteps('<!-- docs-test: skp -->\n```console\n$ true\n```\n', 'x.md'), DocSyntaxError)
    assert.throws(() => parseDocSteps('```console\noutput first\n```\n', 'x.md'), /x\.md:2: a console block starts with/)
    assert.throws(() => parseDocSteps('<!-- docs-test: skip -->\n```console\n$ true\n```\n', 'x.md'), /needs a reason/)
  })

  it('marks servers and trailing & as background commands', () => {
    const [step] = parseDocSteps('```console\n$ restwire korv serve --demo\n$ npx tsx server.ts &\n$ restwire korv call GET /hello\n```\n', 'x.md')
    assert.equal(step?.kind, 'commands')
    const commands = step.kind === 'commands' ? step.commands : []
    assert.deepEqual(
      commands.map((command) => [command.command, command.background]),
      [
        ['restwire korv serve --demo', true],
        ['npx tsx server.ts', true],
        ['restwire korv call GET /hello', false],
      ],
    )
  })
})

describe('docs normaliser', () => {
  const context = {home: '/tmp/rw-docs-x/home', hostname: 'ci-runner-7', user: 'runner', tmpdir: '/tmp'}
  const same = (doc: string, actual: string): boolean => compareOutput([{line: 1, text: doc}], actual, context, 2) === undefined

  it('forgives fingerprints, times, durations, ids, paths, host names and ephemeral ports', () => {
    assert.ok(same('host key SHA256:kJaLVGKCdZzOxlN4G68qsF0awAPbGcFpahoBf39c7nQ /home/ada/.config/restwire/host_ed25519_key', 'host key SHA256:YLZ1oLmAIULeUmGYwTQ7dakMr0Vn8MH8E0eKi85b8u0 /tmp/rw-docs-x/home/.config/restwire/host_ed25519_key'))
    assert.ok(same('"connectMs": 58.55,', '"connectMs": 3.1,'))
    assert.ok(same('{"durationMs":3.56,"id":1,"status":200}', '{"durationMs":12,"id":1,"status":200}'))
    assert.ok(same('valid until 2036-11-20', 'valid until 2036-12-01'))
    assert.ok(same('"notBefore": "2026-11-23T17:27:29.000Z",', '"notBefore": "2026-12-03T08:00:01.000Z",'))
    assert.ok(same('id 0d5f2c1e-8d1b-4c7e-9a55-0b1f1c2d3e4f', 'id 7e9a3b1c-2f44-4b0a-8e1d-9c8b7a6f5e4d'))
    assert.ok(same('tunnel node node-M61sQx9aZ3', 'tunnel node node-Ab12Cd34Ef'))
    assert.ok(same('The key fingerprint is: SHA256:8G2hxKumP9DBj0GO6k7EbgqyQYOO7C4TgEtZhf6jHSw ada@laptop', 'The key fingerprint is: SHA256:YLZ1oLmAIULeUmGYwTQ7dakMr0Vn8MH8E0eKi85b8u0 runner@ci-runner-7'))
    assert.ok(same('{"address":"127.0.0.1:36066"}', '{"address":"127.0.0.1:51234"}'))
    assert.ok(same('SHA-256 D8:D8:2A:83:63:78:4D:07:10:E5:81:B7:D4:D9:FE:4E:76:F8:B4:D0:F0:49:6F:9A:6A:14:06:55:16:8A:73:BE', 'SHA-256 58:7B:02:91:68:81:64:86:7D:2A:23:87:8C:BD:F9:E0:5A:C8:9C:97:98:06:D9:F7:84:D9:5E:A0:5C:BE:32:FD'))
    assert.ok(same('{"status":"ok","headers":{...}}', '{"status":"ok","headers":{"content-type":"application/json"}}'))
  })

  it('is strict about everything else: words, fields, statuses, counters, default ports', () => {
    assert.ok(!same('{"status":200}', '{"status":201}'))
    assert.ok(!same('{"body":{"msg":"Hello World!"}}', '{"body":{"message":"Hello World!"}}'))
    assert.ok(!same('korv listening on 127.0.0.1:8022 (demo, 4 routes)', 'korv listening on 127.0.0.1:8023 (demo, 4 routes)'))
    assert.ok(!same('korv listening on 127.0.0.1:8022 (demo, 4 routes)', 'korv listening on 127.0.0.1:8022 (demo, 5 routes)'))
    assert.ok(!same('{"code":200,"id":6}', '{"code":200,"id":7}'))
    assert.ok(!same('created /home/ada/.config/restwire/id_ed25519', 'created /home/ada/.config/restwire/id_rsa'))
    assert.equal(normaliseLine('\x1b[1mbold\x1b[22m\r'), 'bold')
  })
})
