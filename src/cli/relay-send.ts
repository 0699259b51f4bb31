// `relay send` glue: build one request line (name, params, data; or prompted on a terminal from the
// config), send it to a running relay, print the final reply and exit with a code that says how it went.
import {readFile} from 'node:fs/promises'
import {RestwireError} from '../core/errors.js'
import {type RelayAddress, formatRelayAddress} from '../core/relay/address.js'
import {sendRelayRequest} from '../core/relay/client.js'
import {type RelayConfig, maskUrlPassword} from '../core/relay/config.js'
import {loadRelayConfig} from '../core/relay/load-config.js'
import {type CallEnvelope, buildEnvelope} from './envelope.js'
import {exitCodeForRelayReply} from './exit-codes.js'
import type {PayloadSource} from './flags.js'
import {formatJson, stderrColors as c, writeStdout} from './output.js'
import {readPayload} from './payload.js'
import type {ParamsSource} from './relay-flags.js'
import {askJsonBody} from './request-prompts.js'

export interface RelaySendOptions {
  name?: string
  params?: ParamsSource[]
  data?: PayloadSource
  connect: RelayAddress
  timeoutMs: number
  interactive: boolean
  configPath?: string
  json: boolean
  /** -v: trace the exchange with the relay on stderr. */
  verbose?: boolean
}

const REQUEST_ID = 1

export async function runRelaySend(options: RelaySendOptions): Promise<CallEnvelope | undefined> {
  let name = options.name
  let params = await readParams(options.params ?? [])
  let data = options.data ? await readPayload(options.data) : undefined
  // Like the other call commands: a missing NAME is asked for on a terminal.
  if (options.interactive || !name) ({data, name, params} = await promptRequest(options, {data, name, params}))
  if (!name) throw await missingName(options)

  const started = performance.now()
  const {dispatched, reply} = await sendRelayRequest({
    address: options.connect,
    request: {data: data ?? undefined, id: REQUEST_ID, params, request: name},
    // Loaded only with -v.
    onTrace: options.verbose ? (await import('./trace.js')).createTraceWriter() : undefined,
    timeoutMs: options.timeoutMs,
  })
  process.exitCode = exitCodeForRelayReply(reply)
  if (options.json) {
    return buildEnvelope({
      body: reply.response,
      bodyEncoding: 'json',
      details: {id: reply.id, reply: reply.status, ...(typeof reply.time === 'number' ? {time: reply.time} : {}), dispatched},
      headers: reply.headers,
      ok: reply.status === 'ok',
      protocol: 'relay',
      // The upstream's HTTP status; null when the relay got none (unknown request, upstream unreachable).
      status: typeof reply.http_status === 'number' ? reply.http_status : null,
      target: {address: formatRelayAddress(options.connect), request: {name, params: params ?? {}}},
      timing: {totalMs: performance.now() - started},
    })
  }

  writeStdout(formatJson(reply))
  if (reply.status === 'error') {
    const {code, error: message} = (reply.response as {code?: unknown; error?: unknown} | null) ?? {}
    const why = typeof message === 'string' ? message : `HTTP status ${reply.http_status ?? '?'}`
    process.stderr.write(c.yellow(`relay: ${name} failed: ${why}\n`))
    if (code === 'RW_ERR_RELAY_REQUEST') {
      process.stderr.write(`${c.dim('Hint:')} \`restwire relay check --config FILE\` lists the requests and their placeholders; on a terminal, \`relay send\` without NAME lets you pick one.\n`)
    }
  }

  return undefined
}

async function readParams(sources: ParamsSource[]): Promise<Record<string, unknown> | undefined> {
  if (sources.length === 0) return undefined
  const params: Record<string, unknown> = {}
  for (const source of sources) {
    if (source.kind === 'pair') {
      params[source.key] = source.value
      continue
    }

    let value: unknown
    try {
      value = JSON.parse(await readFile(source.path, 'utf8'))
    } catch (error) {
      throw new RestwireError('RW_ERR_USAGE', `--params @${source.path}: ${(error as Error).message}`, {cause: error})
    }

    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RestwireError('RW_ERR_USAGE', `--params @${source.path} must hold a JSON object`)
    Object.assign(params, value)
  }

  return params
}

interface Given {
  name?: string
  params?: Record<string, unknown>
  data?: unknown
}

/** A usage error naming NAME; with --config, the hint lists the requests to choose from. */
async function missingName(options: RelaySendOptions): Promise<RestwireError> {
  const names = options.configPath ? [...(await loadRelayConfig(options.configPath, {skipSecrets: true})).requests.keys()] : []
  const hint = names.length > 0 ? `Pass one of ${names.join(', ')}, e.g. \`restwire relay send ${names[0]}\`.` : 'Pass it (`restwire relay send user --params user_id=7`), or run on a terminal to pick one from --config FILE.'
  return new RestwireError('RW_ERR_USAGE', 'missing NAME: the name of a request in the relay config, and stdin is not a terminal to ask on', {hint})
}

/**
 * On a terminal: NAME picked from --config's requests (typed in without one), then, with a config, every
 * placeholder and the body not given. Without a terminal: a missing NAME is a usage error.
 */
async function promptRequest(options: RelaySendOptions, given: Given): Promise<Given> {
  if (!process.stdin.isTTY) {
    if (!options.interactive) throw await missingName(options)
    throw new RestwireError('RW_ERR_USAGE', '--interactive needs a terminal, and stdin is not one', {hint: 'Pass NAME, --params and --data instead.'})
  }

  if (!options.configPath && options.interactive) throw new RestwireError('RW_ERR_USAGE', '--interactive needs --config FILE, to list the requests and their placeholders')
  const config = options.configPath ? await loadRelayConfig(options.configPath, {skipSecrets: true}) : undefined
  try {
    if (config) return await ask(config, given)
    // No config to list the names from: type it; the relay's answer to an unknown name lists its names.
    const {input} = await import('@inquirer/prompts')
    return {...given, name: await input({message: 'Request name (--config FILE lists them)', required: true})}
  } catch (error) {
    if ((error as Error | undefined)?.name === 'ExitPromptError') throw new RestwireError('RW_ERR_INTERRUPTED', 'Cancelled at the prompt', {cause: error})
    throw error
  }
}

async function ask(config: RelayConfig, given: Given): Promise<Given> {
  const {input, select} = await import('@inquirer/prompts')
  const choices = [...config.requests.values()].map((t) => ({description: `${t.method} ${maskUrlPassword(t.url)}`, name: t.name, value: t.name}))
  const name = given.name ?? (await select({choices, message: 'Request'}))
  const template = config.requests.get(name)
  if (!template) throw new RestwireError('RW_ERR_USAGE', `"${name}" is not a request in ${[...config.requests.keys()].join(', ')}`)
  const params: Record<string, unknown> = {...given.params}
  for (const placeholder of template.placeholders) {
    if (params[placeholder] === undefined) params[placeholder] = await input({message: placeholder, required: true})
  }

  let {data} = given
  if (data === undefined && template.method !== 'GET' && template.method !== 'HEAD') {
    data = await askJsonBody(`Body (${template.encoding === 'form' ? 'a JSON object, sent as a form' : 'JSON'}; empty for none)`)
  }

  return {data, name, params}
}
