// oclif's parse and validation errors, rewritten as restwire usage errors: oclif's wording ("Nonexistent
// flag", "Missing required flag config", "Parsing --data ... See more help with --help") never reaches
// the user. oclif's error classes are told apart by their fields and message shapes, which are stable
// within @oclif/core 4 (test/commands/errors.test.ts covers every kind).
import {stripVTControlCharacters} from 'node:util'
import {ERROR_CATALOGUE, RestwireError, isRestwireError} from '../core/errors.js'
import {replacedFlagMessage} from './replaced-flags.js'
import {nearest} from './suggest.js'

/** What the rewrite needs to know about the command being parsed. */
export interface ParsedCommand {
  /** `korv:call` */
  id?: string
  /** `restwire korv call` */
  usage: string
  /** Long flag names, without `--`. */
  flags: readonly string[]
  /** Argument names, in order (`VERB`, `PATH`). */
  args: readonly string[]
}

type OclifError = Error & {oclif?: {exit?: number}; flags?: unknown; args?: unknown; parse?: unknown}

const FLAG_PARSE = /^Parsing --([\w-]+) \n\t([\s\S]*)\nSee more help with --help$/
const SEE_HELP = /\nSee more help with --help$/

export function toRestwireError(error: OclifError, command?: ParsedCommand): RestwireError {
  const seeHelp = command ? `See \`${command.usage} --help\`.` : 'See --help for the command.'
  // A flag's own parser failed; oclif prefixed its message and suffixed "See more help".
  const flagParse = FLAG_PARSE.exec(error.message ?? '')
  if (flagParse) {
    const [, name, inner] = flagParse
    if (isRestwireError(error)) {
      error.message = inner!
      return nameTheCommand(error, command)
    }

    return new RestwireError('RW_ERR_USAGE', `--${name}: ${lowerFirst(inner!)}`, {cause: error, hint: seeHelp})
  }

  if (isRestwireError(error)) return nameTheCommand(error, command)
  if (error.oclif?.exit === undefined) return new RestwireError('RW_ERR_INTERNAL', error.message || String(error), {cause: error})
  const message = stripVTControlCharacters(error.message).replace(SEE_HELP, '')
  const usage = (text: string, hint = seeHelp) => new RestwireError('RW_ERR_USAGE', text, {cause: error, hint})

  if (Array.isArray(error.flags) && message.startsWith('Nonexistent flag')) {
    const unknown = (error.flags as string[]).map(String)
    const replaced = unknown.map((flag) => replacedFlagMessage(command?.id, flag)).filter(Boolean)
    if (replaced.length > 0) return usage(replaced.join('; '))
    const guess = unknown.length === 1 && command ? nearest(unknown[0]!.replace(/^-+/, '').split('=')[0]!, command.flags) : undefined
    return usage(`unknown flag${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}`, guess ? `Did you mean --${guess}? ${seeHelp}` : seeHelp)
  }

  if (Array.isArray(error.args) && message.startsWith('Unexpected argument')) {
    const extra = (error.args as unknown[]).map((arg) => JSON.stringify(String(arg)))
    const takes = command?.args.length ? `takes ${command.args.join(' ')}` : 'takes no arguments'
    const hint = `${command ? `\`${command.usage}\`` : 'The command'} ${takes}; quote a value that has spaces. ${seeHelp}`
    return usage(`unexpected argument${extra.length === 1 ? '' : 's'} ${extra.join(', ')}`, hint)
  }

  if (Array.isArray(error.args) && message.startsWith('Missing')) {
    const names = (error.args as Array<{name?: string}>).map((arg) => arg.name?.toUpperCase() ?? '?')
    return usage(`missing argument${names.length === 1 ? '' : 's'} ${names.join(' ')}`)
  }

  let match = /^Flag --([\w-]+) expects a value$/.exec(message)
  if (match) return usage(`--${match[1]} needs a value`, `Pass it as --${match[1]} VALUE or --${match[1]}=VALUE. ${seeHelp}`)
  match = /^Flag --([\w-]+) can only be specified once$/.exec(message)
  if (match) return usage(`--${match[1]} was given more than once`, `Pass --${match[1]} once. ${seeHelp}`)
  match = /^Flag --([\w-]+) expects one of these values: (.*)$/.exec(message) ?? /^Expected --([\w-]+)=.* to be one of: (.*)$/.exec(message)
  if (match) return usage(`--${match[1]} must be one of ${match[2]}${inputOf(message)}`)
  match = /^Expected (.*) to be one of: (.*)$/.exec(message)
  if (match) return usage(`an argument must be one of ${match[2]}, got "${match[1]}"`)
  if (/^The following errors? occurred:/.test(message)) return validationError(message, usage)
  return usage(lowerFirst(message))
}

/** A usage error with the catalogue's generic hint ("See --help for the command.") names the command. */
function nameTheCommand(error: RestwireError, command: ParsedCommand | undefined): RestwireError {
  if (!command || error.code !== 'RW_ERR_USAGE' || error.hint !== ERROR_CATALOGUE.RW_ERR_USAGE.hint) return error
  return new RestwireError('RW_ERR_USAGE', error.message, {cause: error.cause, details: error.details, hint: `See \`${command.usage} --help\`.`})
}

function inputOf(message: string): string {
  const match = /^Expected --[\w-]+=(.*) to be one of/.exec(message)
  return match ? `, got "${match[1]}"` : ''
}

/** oclif's FailedFlagValidationError: one reason a line (required, exclusive, dependsOn, exactlyOne). */
function validationError(message: string, usage: (text: string, hint?: string) => RestwireError): RestwireError {
  const reasons = message.split('\n').slice(1).map((line) => line.trim()).filter(Boolean)
  const lines: string[] = []
  let exclusive = false
  for (const reason of reasons) {
    const required = /^Missing required flag ([\w-]+)$/.exec(reason)
    const conflict = /^--([\w-]+)(?:=.*)? cannot also be provided when using --([\w-]+)$/.exec(reason)
    const dependsOn = /^All of the following must be provided when using --([\w-]+): (.*)$/.exec(reason)
    let line = lowerFirst(reason)
    if (dependsOn) line = `--${dependsOn[1]} needs ${dependsOn[2]}`
    if (required) line = `missing required flag --${required[1]}`
    if (conflict) {
      exclusive = true
      line = `--${[conflict[1], conflict[2]].sort().join(' and --')} cannot be used together`
    }

    if (!lines.includes(line)) lines.push(line)
  }

  const text = lines.join('; ')
  return exclusive ? usage(text, 'Pass only one of them.') : usage(text)
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text
}
