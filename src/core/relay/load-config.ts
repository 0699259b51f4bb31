// Reads a relay config file (JSON, or YAML for .yaml/.yml) and validates it. CA paths in it are relative
// to the file's directory. The yaml package is loaded only for YAML files. Only regular files are read:
// opened with O_NONBLOCK and checked with fstat on the open descriptor (no window for a swap), so a FIFO
// or a device refuses at once instead of blocking the relay's reloads (or its event loop) forever.
import {closeSync, constants, fstatSync, openSync, readFileSync} from 'node:fs'
import {open} from 'node:fs/promises'
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
    text = await readRegularFile(path)
  } catch (error) {
    if (error instanceof RestwireError) throw error
    throw new RestwireError('RW_ERR_CONFIG', `cannot read relay config ${path}: ${fileErrorReason(error)}`, {cause: error, details: {path}})
  }

  const raw = /\.ya?ml$/i.test(path) ? await parseYaml(text, path) : parseJson(text, path)
  const base = dirname(resolve(path))
  return validateRelayConfig(raw, path, {env: options.env, skipSecrets: options.skipSecrets, readCa: (file) => readRegularFileSync(resolve(base, file))})
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK

function notRegular(path: string, what: string): RestwireError {
  return new RestwireError('RW_ERR_CONFIG', `relay ${what} ${path} is not a regular file (a FIFO, device or directory); refusing to read it`, {
    details: {path},
    hint: 'Point --config (and "ca") at regular files.',
  })
}

async function readRegularFile(path: string): Promise<string> {
  const handle = await open(path, OPEN_FLAGS)
  try {
    if (!(await handle.stat()).isFile()) throw notRegular(path, 'config')
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

/** For CA files, read while validating (synchronously): a FIFO here would block the whole event loop. */
function readRegularFileSync(path: string): string {
  const fd = openSync(path, OPEN_FLAGS)
  try {
    if (!fstatSync(fd).isFile()) throw new Error('not a regular file (a FIFO, device or directory)')
    return readFileSync(fd, 'utf8')
  } finally {
    closeSync(fd)
  }
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
