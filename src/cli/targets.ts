// Named targets in the CLI: the `--target` flag, which flags of which client command a target fills, and
// the merge run once the flags are parsed (an explicit flag wins, then the target, then the default).
// Without --target and RESTWIRE_TARGET, a command only stats the config file: no YAML parser is loaded
// when there is none.
import * as Flags from '@oclif/core/flags'
import {restwireHome} from '../core/home.js'
import {
  type SettingSource,
  type Target,
  type TargetField,
  type TargetNameSource,
  TARGET_ENV_VARIABLE,
  TARGET_NAME,
  loadTargetsConfig,
  mergeSetting,
  selectTarget,
  targetsConfigExists,
  targetsConfigPath,
} from '../core/targets.js'
import {RestwireError, isRestwireError} from '../core/errors.js'

export const targetFlag = Flags.custom<string>({
  description: `A named target of the restwire home's config.yaml (to, user, identity, timeouts...); explicit flags win over it. Default: $${TARGET_ENV_VARIABLE}, else the default_target of the file.`,
  helpGroup: 'TARGET',
  async parse(input) {
    if (!TARGET_NAME.test(input)) throw new RestwireError('RW_ERR_USAGE', `--target takes a target name (letters, digits, ".", "_", "-"), got "${input}"`)
    return input
  },
})

/** Per client command: flag name → the target setting that fills it. */
export const TARGET_FLAGS: Readonly<Record<string, Readonly<Record<string, TargetField>>>> = {
  'korv:call': {
    'connect-timeout': 'connect_timeout',
    identity: 'identity',
    'known-hosts': 'known_hosts',
    persist: 'persist',
    timeout: 'timeout',
    to: 'to',
    user: 'user',
  },
  'pipe:call': {timeout: 'timeout', to: 'to'},
  'pipe:connect': {to: 'to'},
  'relay:send': {timeout: 'timeout', to: 'to'},
  'tunnel:call': {timeout: 'timeout', to: 'to'},
  'tunnel:expose': {to: 'to'},
  'tunnel:nodes': {timeout: 'timeout', to: 'to'},
}

/** What resolveSettings needs of a flag's definition: the parser that turns `to:` into its value. */
export type FlagParsers = Readonly<Record<string, object | undefined>>
type OptionParser = {parse?: (input: string, context: unknown, options: unknown) => unknown; multiple?: boolean}

/**
 * The setting's value in the shape its flag parses to: `to:` goes through the command's own --to parser
 * (korv call takes HOST:PORT, relay send tcp:// or unix:), so the file and the flag accept the same text.
 * A list of addresses fills a flag that takes several (pipe connect, tunnel expose), and no other.
 */
async function asFlagValue(flag: string, value: unknown, definitions: FlagParsers, where: string): Promise<unknown> {
  const definition = definitions[flag] as OptionParser | undefined
  const isList = Array.isArray(value)
  if ((typeof value !== 'string' && !isList) || !definition?.parse) return value
  try {
    if (definition.multiple) {
      const items = isList ? (value as string[]) : [value as string]
      return await Promise.all(items.map((item) => definition.parse!(item, undefined, {...definition, name: flag})))
    }

    if (isList) throw new RestwireError('RW_ERR_USAGE', `--${flag} takes one address, the target lists ${(value as string[]).length}`, {hint: 'Only pipe connect and tunnel expose take several: name a target with one address.'})
    return await definition.parse(value as string, undefined, {...definition, name: flag})
  } catch (error) {
    const message = isRestwireError(error) ? error.message.replace(`--${flag} `, '') : String(error)
    throw new RestwireError('RW_ERR_CONFIG', `${where}: ${message} (as --${flag})`, {cause: error, hint: isRestwireError(error) ? error.hint : undefined})
  }
}

export interface AppliedTarget {
  path: string
  target?: {name: string; source: TargetNameSource}
  /** Each mapped flag: its value and where it came from. */
  settings: Record<string, {value: unknown; source: SettingSource; problem?: string}>
}

export interface ApplyTargetOptions {
  flags: Record<string, unknown>
  /** Flags oclif filled from their default (not typed by the user). */
  fromDefault: ReadonlySet<string>
  map: Readonly<Record<string, TargetField>>
  /** The command's flag definitions (for the parser of --to). */
  definitions: FlagParsers
  /** config show: a `to:` this command does not take is reported in its setting, not thrown. */
  lenient?: boolean
  env?: NodeJS.ProcessEnv
}

/** Fills the mapped flags from the selected target, in place. Undefined when no config file applies. */
export async function applyTarget(options: ApplyTargetOptions): Promise<AppliedTarget | undefined> {
  const env = options.env ?? process.env
  const flagName = options.flags.target as string | undefined
  const path = targetsConfigPath(restwireHome(env))
  // The cheap path of every client command with no targets in use: one stat.
  if (!flagName && !env[TARGET_ENV_VARIABLE] && !(await targetsConfigExists(path))) return undefined
  const config = await loadTargetsConfig(path, env)
  const selected = selectTarget(config, path, flagName, env)
  const applied = await resolveSettings(options, selected?.target, path)
  if (selected) applied.target = {name: selected.target.name, source: selected.source}
  return applied
}

export async function resolveSettings(options: ApplyTargetOptions, target: Target | undefined, path: string): Promise<AppliedTarget> {
  const settings: AppliedTarget['settings'] = {}
  for (const [flag, field] of Object.entries(options.map)) {
    const current = options.flags[flag]
    const explicit = current !== undefined && !options.fromDefault.has(flag)
    const merged = mergeSetting({explicit, value: current}, target, field, path)
    if (merged.source.kind === 'config') {
      const where = `${path}:${merged.source.line}: targets.${target!.name}.${field}`
      try {
        options.flags[flag] = await asFlagValue(flag, merged.value, options.definitions, where)
      } catch (error) {
        if (!options.lenient || !isRestwireError(error)) throw error
        settings[flag] = {problem: error.message.slice(where.length + 2), source: merged.source, value: merged.value}
        continue
      }
    }

    settings[flag] = {source: merged.source, value: options.flags[flag]}
  }

  return {path, settings}
}
