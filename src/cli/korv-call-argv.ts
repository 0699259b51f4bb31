// The arguments of `korv call` that its persisted fast path (korv-call-persisted-entry.ts) reads without
// oclif: VERB PATH and the plain value and boolean flags, each at most once, as `--flag VALUE`,
// `--flag=VALUE` or `-x VALUE`. Anything else (prompts, --batch, -v, --target, --help, `--`, an unknown
// or repeated flag, a value that looks like a flag, a value its parser refuses) is not taken here: the
// full command parses it with oclif and says what is wrong. The values go through the same parsers as
// the oclif flags (cli/flag-values.ts, core/address.ts); a test compares both parses argument by argument.
import {type AddressSpec, type TcpAddress, LOOPBACK_HOST, parseAddress} from '../core/address.js'
import {DEFAULT_BATCH_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_KORV_PORT, DEFAULT_REQUEST_TIMEOUT_MS} from '../core/korv/defaults.js'
import {COLOR_MODES, type ColorMode, durationValue, payloadValue, persistValue, positiveIntValue} from './flag-values.js'
import type {KorvCallOptions} from './korv-answer.js'

/** korv call's --to: its grammar and default (commands/korv/call.ts builds the oclif flag from these). */
export const KORV_CALL_TO: AddressSpec & {role: 'to'} = {defaultPort: DEFAULT_KORV_PORT, role: 'to'}
export const KORV_CALL_TO_DEFAULT = `${LOOPBACK_HOST}:${DEFAULT_KORV_PORT}`
export const KORV_CALL_DEFAULT_USER = 'korv'

/** What the fast path runs: the command's options, and --color (applied by the command's init()). */
export type SimpleKorvCall = KorvCallOptions & {verb: string; path: string; color: ColorMode}

type Value = string | number | boolean | object

const VALUE_FLAGS: Readonly<Record<string, (input: string, name: string) => Value>> = {
  color: (input) => {
    if (!(COLOR_MODES as readonly string[]).includes(input)) throw new Error('not a colour mode')
    return input
  },
  concurrency: positiveIntValue,
  'connect-timeout': durationValue,
  data: (input) => payloadValue(input),
  identity: (input) => input,
  'known-hosts': (input) => input,
  persist: persistValue,
  timeout: durationValue,
  to: (input, name) => parseAddress(input, KORV_CALL_TO, `--${name}`),
  user: (input) => input,
}
const BOOLEAN_FLAGS = new Set(['accept-new', 'insecure', 'json'])
const SHORT: Readonly<Record<string, string>> = {'-d': 'data', '-i': 'identity', '-u': 'user'}
const MULTIPLE = new Set(['identity'])

/** The call described by `argv` (after `korv call`), or undefined when the full command should parse it. */
export function parseSimpleKorvCall(argv: readonly string[]): SimpleKorvCall | undefined {
  const positional: string[] = []
  const values: Record<string, Value | string[]> = {}
  const set = (name: string, value: Value): boolean => {
    if (MULTIPLE.has(name)) {
      ;((values[name] ??= []) as string[]).push(value as string)
      return true
    }

    if (name in values) return false
    values[name] = value
    return true
  }

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('-')) {
      positional.push(arg)
      continue
    }

    const equals = arg.indexOf('=')
    const name = arg.startsWith('--') ? arg.slice(2, equals === -1 ? undefined : equals) : SHORT[arg]
    if (name === undefined) return undefined
    if (BOOLEAN_FLAGS.has(name) && equals === -1) {
      if (!set(name, true)) return undefined
      continue
    }

    const parse = VALUE_FLAGS[name]
    if (!parse) return undefined
    const text = equals === -1 || !arg.startsWith('--') ? argv[++i] : arg.slice(equals + 1)
    if (text === undefined || text === '' || text.startsWith('-')) return undefined
    let value: Value
    try {
      value = parse(text, name)
    } catch {
      return undefined
    }

    if (!set(name, value)) return undefined
  }

  const [verb, path] = positional
  const persist = values.persist as number | 'stop' | undefined
  if (positional.length !== 2 || persist === 'stop' || (values['accept-new'] && values.insecure)) return undefined
  if ((values.data as {kind: string} | undefined)?.kind === 'stdin') return undefined
  const to = (values.to as TcpAddress | undefined) ?? (parseAddress(KORV_CALL_TO_DEFAULT, KORV_CALL_TO) as TcpAddress)
  return {
    // A boolean flag not given is undefined, as oclif leaves it.
    acceptNew: values['accept-new'] as true | undefined,
    batch: undefined,
    color: (values.color as ColorMode | undefined) ?? 'auto',
    concurrency: (values.concurrency as number | undefined) ?? DEFAULT_BATCH_CONCURRENCY,
    connectTimeoutMs: (values['connect-timeout'] as number | undefined) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    data: values.data as SimpleKorvCall['data'],
    host: to.host,
    identityPaths: values.identity as string[] | undefined,
    insecure: values.insecure as true | undefined,
    interactive: undefined,
    json: values.json === true,
    knownHostsPath: values['known-hosts'] as string | undefined,
    path: path!,
    persist,
    port: to.port,
    timeoutMs: (values.timeout as number | undefined) ?? DEFAULT_REQUEST_TIMEOUT_MS,
    user: (values.user as string | undefined) ?? KORV_CALL_DEFAULT_USER,
    verb: verb!,
    verbose: undefined,
  }
}
