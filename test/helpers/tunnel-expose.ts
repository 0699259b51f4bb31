// Starts `restwire tunnel expose` (the built CLI) in a child process and follows its JSON log on stderr.
import {type CliProcess, spawnCli} from './cli.js'

export function startExpose(args: string[], env: Record<string, string>): CliProcess {
  return spawnCli(['tunnel', 'expose', '--log-format', 'json', ...args], env)
}
