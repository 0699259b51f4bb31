// Runs `restwire relay start` from the built CLI in a child process and follows its JSON log lines.
import {type CliProcess, spawnCli} from './cli.js'

export interface RelayProcess extends CliProcess {
  /** The address from its "listening" line: tcp://127.0.0.1:PORT or unix:/path. */
  address: string
}

/** Starts `relay start --log-format json ...args`; resolves once it listens, rejects if it exits first. */
export async function startRelayCli(args: string[], env: Record<string, string> = {}): Promise<RelayProcess> {
  const cli = spawnCli(['relay', 'start', '--log-format', 'json', ...args], env)
  const listening = await cli.waitForLog(/"event":"listening"/)
  return {...cli, address: listening.address as string}
}
