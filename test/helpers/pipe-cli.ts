// Runs long-lived `restwire pipe serve` / `pipe connect` processes for tests and follows their JSON logs.
import {type CliProcess, spawnCli} from './cli.js'

export type PipeProcess = CliProcess

/** Starts `restwire pipe ...args --log-format json` and waits for its first log line matching `ready`. */
export async function startPipeProcess(args: string[], ready: RegExp): Promise<PipeProcess> {
  const cli = spawnCli(['pipe', ...args, '--log-format', 'json'])
  await cli.waitForLine(ready)
  return cli
}
