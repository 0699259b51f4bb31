// Reads a relay config file (JSON, or YAML for .yaml/.yml) and validates it. CA paths in it are relative
// to the file's directory. The yaml package is loaded only for YAML files.
import {readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'
import {RestwireError} from '../errors.js'
import {fileErrorReason} from '../fs-errors.js'
import {type RelayConfig, validateRelayConfig} from './config.js'

export interface LoadRelayConfigOptions {
  /** Where auth and header secrets come from (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Accept unset secret variables (a client reading the config for request names and placeholders). */
  skipSecrets?: boolean
}

export async function loadRelayConfig(path: string, options: LoadRelayConfigOptions = {}): Promise<RelayConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new RestwireError('RW_ERR_CONFIG', `cannot read relay config ${path}: ${fileErrorReason(error)}`, {cause: error, details: {path}})
  }

  const raw = /\.ya?ml$/i.test(path) ? await parseYaml(text, path) : parseJson(text, path)
  const base = dirname(resolve(path))
  return validateRelayConfig(raw, path, {env: options.env, skipSecrets: options.skipSecrets, readCa: (file) => readFileSync(resolve(base, file), 'utf8')})
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new RestwireError('RW_ERR_CONFIG', `relay config ${path} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
      details: {path},
      hint: 'Name a YAML file with a .yaml or .yml extension.',
    })
  }
}

async function parseYaml(text: string, path: string): Promise<unknown> {
  const {parse} = await import('yaml')
  try {
    return parse(text)
  } catch (error) {
    throw new RestwireError('RW_ERR_CONFIG', `relay config ${path} is not valid YAML: ${(error as Error).message}`, {cause: error, details: {path}})
  }
}
