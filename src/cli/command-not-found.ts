// oclif's command_not_found hook (package.json oclif.hooks): a mistyped command gets restwire's error
// format and the nearest command ("did you mean `restwire korv call`?") instead of oclif's
// "command korv:cal:GET:/hello not found". oclif calls it only on a miss, so it costs a hit nothing.
import type {Config} from '@oclif/core/config'
import {RestwireError} from '../core/errors.js'
import {errorDocument} from './envelope.js'
import {renderError} from './output.js'
import {editDistance} from './suggest.js'

export interface CommandNotFoundOptions {
  /** The words oclif took as the command id, joined with `:` (`korv:cal:GET:/hello`). */
  id: string
  /** The rest of the command line. */
  argv?: string[]
  config: Config
}

export async function commandNotFound({argv = [], config, id}: CommandNotFoundOptions): Promise<void> {
  const words = id.split(':')
  const error = unknownCommandError(words, argv, config)
  process.exitCode = error.exitCode
  const flagsEnd = argv.indexOf('--')
  if (argv.slice(0, flagsEnd === -1 ? undefined : flagsEnd).includes('--json')) {
    process.stdout.write(JSON.stringify(errorDocument(error)) + '\n')
    return
  }

  process.stderr.write(renderError(error, false))
}

/** `prefix`: words the suggested command line starts with after the bin (`help` for `restwire help korv cal`). */
export function unknownCommandError(words: string[], argv: string[], config: Config, prefix?: string): RestwireError {
  const {bin} = config
  const ids = config.commands.filter((command) => !command.hidden).map((command) => command.id)
  const topics = new Set(ids.filter((commandId) => commandId.includes(':')).map((commandId) => commandId.split(':')[0]!))
  const help = `Run \`${bin} help\` for every command.`
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const commandId of ids) {
    const parts = commandId.split(':')
    const candidate = parts.join(' ')
    const distance = editDistance(words.slice(0, parts.length).join(' '), candidate)
    if (distance < bestDistance && distance <= Math.max(2, Math.floor(candidate.length / 3))) {
      best = commandId
      bestDistance = distance
    }
  }

  const typed = words.slice(0, best ? best.split(':').length : topics.has(words[0]!) ? 2 : 1).join(' ')
  let hint = help
  if (best) {
    const length = best.split(':').length
    const line = [bin, ...(prefix ? [prefix] : []), ...best.split(':'), ...words.slice(length), ...argv].map(shellQuote).join(' ')
    hint = `Did you mean \`${line}\`? ${help}`
  } else if (topics.has(words[0]!)) {
    const inTopic = ids.filter((commandId) => commandId.startsWith(words[0] + ':')).map((commandId) => commandId.replaceAll(':', ' '))
    hint = `The ${words[0]} commands are ${inTopic.join(', ')}. ${help}`
  }

  return new RestwireError('RW_ERR_USAGE', `unknown command \`${typed}\``, {details: {command: typed, suggestion: best?.replaceAll(':', ' ')}, hint})
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
}
