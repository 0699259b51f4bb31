// Named targets: `<restwire home>/config.yaml` names servers the way ~/.ssh/config Host entries do, so a
// client command says `--target prod` instead of its address, user, key and timeouts. Validated in full
// (every problem named `targets.NAME.FIELD`, unknown fields included); each value keeps its line so that
// `config show` can say where it came from. The yaml package is loaded only when a file is read.
import {stat} from 'node:fs/promises'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {type AddressSpec, parseAddress} from './address.js'
import {DURATION_FORMS, parseDuration} from './duration.js'
import {errnoCode, RestwireError} from './errors.js'
import {fileErrorReason} from './fs-errors.js'

export const TARGETS_FILE_NAME = 'config.yaml'
export const TARGET_ENV_VARIABLE = 'RESTWIRE_TARGET'
export const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** The settings a target can hold, named as in the file (the flags' names, `_` for `-`). */
export interface TargetSettings {
  /**
   * What the client dials, as its --to takes it: HOST:PORT for korv call, an http:// address for tunnel
   * call/nodes and pipe call, tcp:// or unix:/path for relay send. Checked here against the address
   * grammar, and by the command that uses it against what that command accepts. A list (YAML, or
   * comma-separated) of several hubs or gateways, for the commands whose --to takes several.
   */
  to?: string | string[]
  user?: string
  /** Absolute paths (relative ones are resolved against the file's directory, `~/` against HOME). */
  identity?: string[]
  known_hosts?: string
  timeout?: number
  connect_timeout?: number
  /** korv call: keep the connection this long without calls (its --persist). */
  persist?: number
}

export type TargetField = keyof TargetSettings

export interface Target {
  readonly name: string
  readonly line: number
  readonly settings: Readonly<TargetSettings>
  /** The line of the file each setting was written on. */
  readonly lines: Readonly<Partial<Record<TargetField, number>>>
}

export interface TargetsConfig {
  readonly path: string
  readonly targets: ReadonlyMap<string, Target>
  readonly defaultTarget?: {name: string; line: number}
}

const TOP_FIELDS = ['targets', 'default_target']
const TARGET_FIELDS = ['to', 'user', 'identity', 'known_hosts', 'timeout', 'connect_timeout', 'persist']
/** Keys of earlier versions, each now written `to:` like the --to flag that replaced theirs. */
const RENAMED_FIELDS: Readonly<Record<string, string>> = {address: 'to', gateway: 'to', relay: 'to'}
/**
 * Every form some client's --to takes; a bare HOST is valid for a client with a default port (korv call).
 * The command that uses the target then checks the value against its own --to.
 */
const ANY_TO: AddressSpec = {defaultPort: 1, role: 'to', schemes: ['tcp', 'http', 'https'], unix: true}

export function targetsConfigPath(home: string): string {
  return join(home, TARGETS_FILE_NAME)
}

/** Whether the file exists: a stat, so that a command with no config file never loads the YAML parser. */
export async function targetsConfigExists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return false
    throw new RestwireError('RW_ERR_CONFIG', `cannot read ${path}: ${fileErrorReason(error)}`, {cause: error, details: {path}})
  }
}

/** Reads and validates the file; undefined when there is none. */
export async function loadTargetsConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<TargetsConfig | undefined> {
  if (!(await targetsConfigExists(path))) return undefined
  const {readFile} = await import('node:fs/promises')
  let text: string
  try {
    // A FIFO would block the command forever, a directory fails later with a worse message.
    if (!(await stat(path)).isFile()) throw new Error('not a regular file (a FIFO, device or directory)')
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new RestwireError('RW_ERR_CONFIG', `cannot read ${path}: ${fileErrorReason(error)}`, {cause: error, details: {path}})
  }

  return parseTargetsConfig(text, path, env)
}

/** Parses and validates the text of a config file; throws RW_ERR_CONFIG listing every problem. */
export async function parseTargetsConfig(text: string, path: string, env: NodeJS.ProcessEnv = process.env): Promise<TargetsConfig> {
  const yaml = await import('yaml')
  const lineCounter = new yaml.LineCounter()
  const doc = yaml.parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true})
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error) => `line ${lineCounter.linePos(error.pos[0]).line}: ${error.message.split('\n')[0]}`)
    throw configError(path, problems, 'is not valid YAML')
  }

  const lineOf = (node: unknown): number => {
    const range = (node as {range?: [number, number, number]} | null)?.range
    return range ? lineCounter.linePos(range[0]).line : 0
  }

  const problems: string[] = []
  const add = (where: string, message: string): void => {
    problems.push(`${where}: ${message}`)
  }

  const root = doc.contents
  if (root === null || (yaml.isScalar(root) && root.value === null)) return {path, targets: new Map()}
  if (!yaml.isMap(root)) throw configError(path, ['the file must hold a mapping with a "targets" mapping'])
  const base = dirname(resolve(path))
  const home = env.HOME || homedir()
  const targets = new Map<string, Target>()
  let defaultTarget: TargetsConfig['defaultTarget']
  for (const pair of root.items) {
    const key = String(yaml.isScalar(pair.key) ? pair.key.value : pair.key)
    const value: unknown = yaml.isNode(pair.value) ? pair.value.toJS(doc) : pair.value
    if (key === 'default_target') {
      if (typeof value === 'string' && TARGET_NAME.test(value)) defaultTarget = {line: lineOf(pair.value), name: value}
      else add(key, `must be a target name, got ${show(value)}`)
    } else if (key === 'targets') {
      if (value === null || value === undefined) continue
      if (!yaml.isMap(pair.value)) {
        add(key, 'must be a mapping of target names to settings')
        continue
      }

      for (const entry of pair.value.items) {
        const name = String(yaml.isScalar(entry.key) ? entry.key.value : entry.key)
        const where = `targets.${name}`
        if (!TARGET_NAME.test(name)) add(where, 'a target name is letters, digits, ".", "_" and "-", starting with a letter or digit')
        if (!yaml.isMap(entry.value)) {
          add(where, 'must be a mapping of settings (to, user, identity...)')
          continue
        }

        const settings: TargetSettings = {}
        const lines: Partial<Record<TargetField, number>> = {}
        for (const field of entry.value.items) {
          const fieldName = String(yaml.isScalar(field.key) ? field.key.value : field.key)
          const raw: unknown = yaml.isNode(field.value) ? field.value.toJS(doc) : field.value
          const parsed = parseField(fieldName, raw, {base, home, where: `${where}.${fieldName}`}, add)
          for (const [k, v] of Object.entries(parsed) as Array<[TargetField, never]>) {
            settings[k] = v
            lines[k] = lineOf(field.key)
          }
        }

        targets.set(name, {line: lineOf(entry.key), lines, name, settings})
      }
    } else {
      add(key, `unknown field (expected one of ${TOP_FIELDS.join(', ')})`)
    }
  }

  if (defaultTarget && !targets.has(defaultTarget.name) && problems.length === 0) {
    add('default_target', `names no target in the file (${knownNames(targets)})`)
  }

  if (problems.length > 0) throw configError(path, problems)
  return {defaultTarget, path, targets}
}

interface FieldContext {
  base: string
  home: string
  where: string
}

/** One setting of a target, checked; `{}` (with a problem added) when it is wrong. */
function parseField(field: string, raw: unknown, context: FieldContext, add: (where: string, message: string) => void): TargetSettings {
  const {where} = context
  switch (field) {
    case 'to': {
      // One address, or several (a YAML list or comma-separated) for pipe connect and tunnel expose.
      const list = (Array.isArray(raw) ? raw : [raw]).flatMap((item) => (typeof item === 'string' ? item.split(',') : [item]))
      if (list.length > 0 && list.every((item) => typeof item === 'string' && isAddress(item))) {
        const addresses = list.map((item) => (item as string).trim())
        return {to: addresses.length === 1 ? addresses[0]! : addresses}
      }

      add(where, `must be an address as --to takes it: HOST:PORT, [IPv6]:PORT, http://HOST:PORT, tcp://HOST:PORT or unix:/path (a list of them for pipe connect and tunnel expose); got ${show(raw)}`)
      return {}
    }

    case 'user': {
      if (typeof raw === 'string' && raw !== '' && !/\s/.test(raw)) return {user: raw}
      add(where, `must be a user name, got ${show(raw)}`)
      return {}
    }

    case 'identity': {
      const list = Array.isArray(raw) ? raw : [raw]
      if (list.length === 0 || !list.every((item) => typeof item === 'string' && item !== '')) {
        add(where, `must be a key file path or a list of them, got ${show(raw)}`)
        return {}
      }

      return {identity: list.map((item) => expandPath(item as string, context))}
    }

    case 'known_hosts': {
      if (typeof raw === 'string' && raw !== '') return {known_hosts: expandPath(raw, context)}
      add(where, `must be a file path, got ${show(raw)}`)
      return {}
    }

    case 'timeout':
    case 'connect_timeout':
    case 'persist': {
      const ms = parseDuration(raw)
      if (ms !== undefined) return {[field]: ms}
      add(where, `must be a duration up to 24 days (${DURATION_FORMS}); got ${show(raw)}`)
      return {}
    }

    default: {
      const renamed = RENAMED_FIELDS[field]
      if (renamed) add(where, `was renamed: write "${renamed}:" (what the command's --${renamed} takes)`)
      else add(where, `unknown field (expected one of ${TARGET_FIELDS.join(', ')})`)
      return {}
    }
  }
}

function isAddress(text: string): boolean {
  try {
    parseAddress(text, ANY_TO)
    return true
  } catch {
    return false
  }
}

/** `~/x` from HOME; a relative path from the config file's directory, as ssh does with its own files. */
function expandPath(path: string, context: FieldContext): string {
  if (path === '~') return context.home
  if (path.startsWith('~/')) return join(context.home, path.slice(2))
  return resolve(context.base, path)
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return 'a value nested too deeply to show'
  }
}

function knownNames(targets: ReadonlyMap<string, Target>): string {
  return targets.size === 0 ? 'it defines none' : `known: ${[...targets.keys()].join(', ')}`
}

function configError(path: string, problems: string[], what = 'is invalid'): RestwireError {
  const head = problems.length === 1 ? `config ${path} ${what}: ${problems[0]}` : `config ${path} ${what}:\n  ${problems.join('\n  ')}`
  return new RestwireError('RW_ERR_CONFIG', head, {details: {path, problems}})
}

/** Where the target's name came from. */
export type TargetNameSource = {kind: 'flag'} | {kind: 'env'; variable: string} | {kind: 'config'; path: string; line: number}

/**
 * The target to use: `--target`, else RESTWIRE_TARGET, else the file's default_target; undefined when
 * none is named. An unknown name, or a name with no file, is an RW_ERR_CONFIG listing the known ones.
 */
export function selectTarget(
  config: TargetsConfig | undefined,
  path: string,
  flagName: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): {target: Target; source: TargetNameSource} | undefined {
  const envName = env[TARGET_ENV_VARIABLE] || undefined
  const source: TargetNameSource | undefined = flagName
    ? {kind: 'flag'}
    : envName
      ? {kind: 'env', variable: TARGET_ENV_VARIABLE}
      : config?.defaultTarget
        ? {kind: 'config', line: config.defaultTarget.line, path: config.path}
        : undefined
  const name = flagName ?? envName ?? config?.defaultTarget?.name
  if (name === undefined || source === undefined) return undefined
  const from = source.kind === 'flag' ? '--target' : source.kind === 'env' ? TARGET_ENV_VARIABLE : 'default_target'
  if (!config) {
    throw new RestwireError('RW_ERR_CONFIG', `no target "${name}" (${from}): there is no config file ${path}`, {
      details: {path, target: name},
      hint: `Define targets in ${path} (see docs/korv.md, "Named targets"), or drop ${from}.`,
    })
  }

  const target = config.targets.get(name)
  if (!target) {
    throw new RestwireError('RW_ERR_CONFIG', `no target "${name}" (${from}) in ${path}; ${knownNames(config.targets)}`, {
      details: {known: [...config.targets.keys()], path, target: name},
      hint: 'Pick one of the known targets, or add it to the file (`restwire config show` shows what applies).',
    })
  }

  return {source, target}
}

/** Where a value that applies came from. */
export type SettingSource = {kind: 'flag'} | {kind: 'config'; path: string; line: number} | {kind: 'default'}

/** Precedence of one setting: an explicit flag, then the target, then the built-in default. */
export function mergeSetting<T>(
  flag: {value: T; explicit: boolean},
  target: Target | undefined,
  field: TargetField,
  path: string,
): {value: T; source: SettingSource} {
  if (flag.explicit) return {source: {kind: 'flag'}, value: flag.value}
  const value = target?.settings[field]
  if (target && value !== undefined) return {source: {kind: 'config', line: target.lines[field] ?? target.line, path}, value: value as T}
  return {source: {kind: 'default'}, value: flag.value}
}
