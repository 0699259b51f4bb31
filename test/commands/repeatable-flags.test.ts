// Every repeatable flag in every command stops at the next word: oclif's default `multiple` flag is
// greedy, so `korv call -i KEY GET /hello` took GET and /hello as keys and exited 2.
import assert from 'node:assert/strict'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'
import {root} from '../helpers/cli.js'

function commandFiles(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) =>
    entry.isDirectory() ? commandFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  )
}

describe('repeatable flags', () => {
  it('are non-greedy in every command', async () => {
    const files = commandFiles(join(root, 'src', 'commands'))
    const repeatable: string[] = []
    for (const file of files) {
      const command = (await import(pathToFileURL(file).href)).default as {flags?: Record<string, {multiple?: boolean; multipleNonGreedy?: boolean}>}
      for (const [name, flag] of Object.entries(command.flags ?? {})) {
        if (!flag.multiple) continue
        repeatable.push(name)
        assert.equal(flag.multipleNonGreedy, true, `--${name} in ${file} is repeatable and greedy: it swallows the arguments after it`)
      }
    }

    assert.ok(repeatable.includes('identity') && repeatable.includes('host-key'), `found ${repeatable.join(', ')}`)
  })
})
