// `restwire completion bash|zsh`: the generated script, loaded into a real bash and zsh (each test
// skipped, loudly, without its shell), completes topics, commands, flags and option values.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {before, describe, it} from 'node:test'
import {restwire} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'

/** What the script offers for `words` (the last one being completed), as bash itself computes it. */
function complete(shell: 'bash' | 'zsh', script: string, words: string[], home?: string): Promise<string[]> {
  const setup = `${home ? `export RESTWIRE_HOME='${home}'; ` : ''}${shell === 'zsh' ? 'autoload -U compinit && compinit -u; ' : ''}`
  const array = words.map((word) => `'${word}'`).join(' ')
  const program = `${setup}source '${script}'; COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _restwire_complete; print_reply() { printf '%s\\n' "\${COMPREPLY[@]}"; }; print_reply`
  return new Promise((resolve, reject) => {
    execFile(tool(shell), ['-c', program], {timeout: 20_000}, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${shell}: ${stderr || error.message}`))
      // zsh's compgen leaves the prefix match to compadd, as completion does when it shows the list.
      resolve(stdout.split('\n').filter((word) => word !== '' && word.startsWith(words.at(-1)!)).sort())
    })
  })
}

describe('restwire completion', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-completion-')
  const scripts: Record<string, string> = {}
  /** A restwire home whose config.yaml names targets, for --target completion. */
  const home = (): string => join(dir(), 'home')

  before(async () => {
    for (const shell of ['bash', 'zsh']) {
      const result = await restwire(['completion', shell], {})
      assert.equal(result.code, 0, result.stderr)
      scripts[shell] = join(dir(), `completion.${shell}`)
      await writeFile(scripts[shell]!, result.stdout)
    }

    await mkdir(home())
    await writeFile(
      join(home(), 'config.yaml'),
      '# targets\ndefault_target: prod\ntargets:\n  prod:\n    to: api.example.com:8022\n    user: deploy\n  "stag.ing":\n    user: y\n  # a comment\n  dev-1: {user: z}\nother: 1\n',
    )
  })

  it('bash: topics, commands, flags with short forms, option values, files after that', {skip: skipWithout('bash')}, async () => {
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'ko']), ['korv'])
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'tunnel', '']), ['call', 'expose', 'gateway', 'nodes'])
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'korv', 'serve', '--max-s']), ['--max-startups'])
    assert.ok((await complete('bash', scripts.bash!, ['restwire', 'korv', 'call', '-'])).includes('-i'))
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'keys', 'gen', '--type', '']), ['ecdsa', 'ed25519', 'rsa'])
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'korv', 'serve', '--log-format', 'j']), ['json'])
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'korv', 'serve', '--tracebacks', '--no-t']), ['--no-tracebacks'])
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'completion', '--verb']), ['--verbose'])
    // The one vocabulary: --to and --listen are offered, never the deprecated --gateway/--connect.
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'tunnel', 'call', '--t']), ['--target', '--timeout', '--to'])
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'relay', 'send', '--co']), ['--color', '--config'])
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'pipe', 'serve', '--li']), ['--listen'])
  })

  it('zsh: the same script through bashcompinit, --target included', {skip: skipWithout('zsh', 'awk')}, async () => {
    assert.deepEqual(await complete('zsh', scripts.zsh!, ['restwire', 'pipe', 's']), ['serve'])
    assert.deepEqual(await complete('zsh', scripts.zsh!, ['restwire', 'relay', 'start', '--idle']), ['--idle-timeout'])
    assert.deepEqual(await complete('zsh', scripts.zsh!, ['restwire', 'relay', 'send', '--target', 'p'], home()), ['prod'])
  })

  it('bash: --target completes the target names of the restwire home config.yaml', {skip: skipWithout('bash', 'awk')}, async () => {
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'korv', 'call', '--target', ''], home()), ['dev-1', 'prod', 'stag.ing'])
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'config', 'show', '--target', 'st'], home()), ['stag.ing'])
    assert.deepEqual(await complete('bash', scripts.bash!, ['restwire', 'korv', 'call', '--target', ''], join(dir(), 'no-home')), [])
  })

  it('refuses a shell it does not know, with the usage exit code', async () => {
    const result = await restwire(['completion', 'fish'], {})
    assert.equal(result.code, 2, result.stderr)
  })
})
