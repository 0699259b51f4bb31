// `config show` glue: what a client command would use with the selected target, and where each value
// comes from (the --target flag or RESTWIRE_TARGET for the name; the config file's line or the default
// for each setting): a table, or one document with --json.
import type {Config} from '@oclif/core/config'
import chalk from 'chalk'
import {localPaths, restwireHome} from '../core/home.js'
import {type Address, formatAddress} from '../core/address.js'
import {
  type SettingSource,
  type TargetNameSource,
  TARGET_ENV_VARIABLE,
  loadTargetsConfig,
  selectTarget,
  targetsConfigPath,
} from '../core/targets.js'
import {formatDuration} from './flags.js'
import {writeStdout} from './output.js'
import {type FlagParsers, TARGET_FLAGS, resolveSettings} from './targets.js'

export interface ConfigShowOptions {
  config: Config
  target?: string
  json: boolean
}

export interface ConfigShowSetting {
  /** The client command, e.g. "korv call". */
  command: string
  flag: string
  /** The key of a target that sets it. */
  setting: string
  /** As the command would use it, in the flag's syntax (durations as 30s). */
  value: string
  source: SettingSource
  /** Why the command cannot use the target's value (a `to:` of another kind of server). */
  problem?: string
}

export interface ConfigShowResult {
  path: string
  exists: boolean
  targets: string[]
  target: {name: string; source: TargetNameSource} | null
  settings: ConfigShowSetting[]
}

export async function runConfigShow(options: ConfigShowOptions): Promise<ConfigShowResult | undefined> {
  const path = targetsConfigPath(restwireHome())
  const file = await loadTargetsConfig(path)
  const selected = selectTarget(file, path, options.target)
  const settings: ConfigShowSetting[] = []
  for (const [id, map] of Object.entries(TARGET_FLAGS)) {
    const command = await options.config.findCommand(id)?.load()
    if (!command) continue
    const flags: Record<string, unknown> = {}
    for (const flag of Object.keys(map)) flags[flag] = command.flags[flag]?.default
    const applied = await resolveSettings({definitions: command.flags as FlagParsers, flags, fromDefault: new Set(Object.keys(map)), lenient: true, map}, selected?.target, path)
    for (const [flag, field] of Object.entries(map)) {
      const {problem, source, value} = applied.settings[flag]!
      const shown = problem === undefined ? showValue(flag, value) : String(value)
      settings.push({command: id.replace(':', ' '), flag: `--${flag}`, setting: field, source, value: shown, ...(problem === undefined ? {} : {problem})})
    }
  }

  const result: ConfigShowResult = {
    exists: file !== undefined,
    path,
    settings,
    target: selected ? {name: selected.target.name, source: selected.source} : null,
    targets: file ? [...file.targets.keys()] : [],
  }
  if (options.json) return result
  writeStdout(render(result))
  return undefined
}

function showValue(flag: string, value: unknown): string {
  if (flag === 'timeout' || flag === 'connect-timeout') return formatDuration(value as number)
  if (flag === 'persist') return value === undefined ? 'off' : formatDuration(value as number)
  // Several hubs or gateways (pipe connect, tunnel expose) as their --to takes them; those have no default.
  if (flag === 'to') return value === undefined ? 'none (required)' : Array.isArray(value) ? value.map((address: Address) => formatAddress(address)).join(',') : formatAddress(value as Address)
  if (flag === 'identity') return Array.isArray(value) ? value.join(', ') : `${localPaths().clientKey} (restwire home) and ssh-agent`
  if (flag === 'known-hosts') return value === undefined ? localPaths().knownHosts : String(value)
  return String(value)
}

export function describeSource(source: SettingSource | TargetNameSource): string {
  if (source.kind === 'flag') return 'flag --target'
  if (source.kind === 'env') return `env ${source.variable}`
  if (source.kind === 'config') return `${source.path}:${source.line}`
  return 'default'
}

function render(result: ConfigShowResult): string {
  const lines: string[] = []
  if (!result.exists) lines.push(`config   ${result.path} (none; defaults apply)`)
  else lines.push(`config   ${result.path} (targets: ${result.targets.length > 0 ? result.targets.join(', ') : 'none'})`)
  lines.push(
    result.target
      ? `target   ${result.target.name} (${result.target.source.kind === 'config' ? `default_target, ${describeSource(result.target.source)}` : describeSource(result.target.source)})`
      : `target   none (pass --target NAME or set ${TARGET_ENV_VARIABLE})`,
    '',
  )
  const rows = [['COMMAND', 'FLAG', 'VALUE', 'SOURCE'], ...result.settings.map((s) => [s.command, s.flag, s.problem ? `${s.value} (not usable here: ${s.problem})` : s.value, describeSource(s.source)])]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  for (const [index, row] of rows.entries()) {
    const text = row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()
    lines.push(index === 0 ? chalk.bold(text) : text)
  }

  return lines.join('\n')
}
