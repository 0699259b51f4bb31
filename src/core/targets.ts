// Named targets: `<restwire home>/config.yaml` names servers the way ~/.ssh/config Host entries do, so a
// client command says `--target prod` instead of its address, user, key and timeouts. Validated in full
// (every problem named `targets.NAME.FIELD`, unknown fields included); each value keeps its line so that
// `config show` can say where it came from. The yaml package is loaded only when a file is read.
import {stat} from 'node:fs/promises'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {errnoCode, RestwireError} from './errors.js'
import {fileErrorReason} from './fs-errors.js'
import {parseRelayAddress} from './relay/address.js'

export const TARGETS_FILE_NAME = 'config.yaml'
export const TARGET_ENV_VARIABLE = 'RESTWIRE_TARGET'
export const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** The settings a target can hold, named as in the file. `address` fills `host` and `port`. */
export interface TargetSettings {
  host?: string
  port?: number
  user?: string
  /** Absolute paths (relative ones are resolved against the file's directory, `~/` against HOME). */
  identity?: string[]
  known_hosts?: string
  /** The local HTTP API of a tunnel gateway or pipe hub/node (tunnel call, tunnel nodes, pipe call). */
  gateway?: string
  /** A relay address, tcp://HOST:PORT or unix:/path (relay send). */
  relay?: string
  timeout?: number
  connect_timeout?: number
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
const TARGET_FIELDS = ['address', 'user', 'identity', 'known_hosts', 'gateway', 'relay', 'timeout', 'connect_timeout']
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/
const DURATION_UNIT_MS: Record<string, number> = {h: 3_600_000, m: 60_000, ms: 1, s: 1000}
/** The longest delay a Node.js timer takes (about 24.8 days). */
const MAX_DURATION_MS = 2_147_483_647

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
          add(where, 'must be a mapping of settings (address, user, identity...)')
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
    case 'address': {
      const match = typeof raw === 'string' ? /^(?:\[([^\]]+)\]|([^:\s[\]/]+))(?::(\d+))?$/.exec(raw.trim()) : null
      const port = match?.[3] === undefined ? undefined : Number(match[3])
      if (!match || (port !== undefined && (port < 1 || port > 65_535))) {
        add(where, `must be HOST:PORT (or HOST), e.g. api.example.com:8022 or [::1]:8022, got ${show(raw)}`)
        return {}
      }

      return port === undefined ? {host: match[1] ?? match[2]!} : {host: match[1] ?? match[2]!, port}
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

    case 'gateway': {
      const url = typeof raw === 'string' ? parseUrl(raw) : undefined
      if (url && (url.protocol === 'http:' || url.protocol === 'https:')) return {gateway: url.origin + url.pathname.replace(/\/+$/, '')}
      add(where, `must be an http:// URL, e.g. http://127.0.0.1:8080, got ${show(raw)}`)
      return {}
    }

    case 'relay': {
      if (typeof raw === 'string' && isRelayAddress(raw)) return {relay: raw.trim()}
      add(where, `must be tcp://HOST:PORT or unix:/path/to.sock, got ${show(raw)}`)
      return {}
    }

    case 'timeout':
    case 'connect_timeout': {
      const ms = parseDuration(raw)
      if (ms !== undefined) return {[field]: ms}
      add(where, `must be a duration: seconds as a number, or a string like "500ms", "30s", "2m"; got ${show(raw)}`)
      return {}
    }

    default: {
      add(where, `unknown field (expected one of ${TARGET_FIELDS.join(', ')})`)
      return {}
    }
  }
}

function isRelayAddress(text: string): boolean {
  try {
    parseRelayAddress(text, 'relay')
    return true
  } catch {
    return false
  }
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text)
  } catch {
    return undefined
  }
}

function parseDuration(raw: unknown): number | undefined {
  const match = typeof raw === 'number' ? [String(raw), String(raw), 's'] : typeof raw === 'string' ? DURATION.exec(raw.trim()) : null
  const ms = match ? Number(match[1]) * DURATION_UNIT_MS[match[2] ?? 's']! : Number.NaN
  return Number.isFinite(ms) && ms > 0 && ms <= MAX_DURATION_MS ? Math.round(ms) : undefined
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
