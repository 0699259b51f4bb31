import {BaseCommand} from '../../cli/base-command.js'
import type {ConfigShowResult} from '../../cli/config-show.js'
import {targetFlag} from '../../cli/targets.js'

export default class ConfigShow extends BaseCommand<typeof ConfigShow> {
  static override summary = 'Show what the client commands would use, and where each value comes from.'
  static override description = `Reads the named targets of the restwire home's config.yaml (like ~/.ssh/config Host entries) and prints, for every client command (korv call, tunnel call, tunnel nodes, pipe call, relay send) and the nodes' --to (pipe connect, tunnel expose: a target's to: may list several hubs or gateways there), each setting a target can fill: its value and its source (the config file and line, or the built-in default). The target is --target, else $RESTWIRE_TARGET, else the file's default_target. On a client command an explicit flag wins over the target.

The file is validated in full: every problem is named targets.NAME.FIELD, unknown fields included. A table, or one document with --json.

Exit codes: 0; 2 for an invalid file or an unknown target (the known ones are listed).`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'The defaults, and the targets the file defines'},
    {command: '<%= config.bin %> <%= command.id %> --target prod', description: 'What `--target prod` applies'},
    {command: 'RESTWIRE_TARGET=prod <%= config.bin %> <%= command.id %> --json', description: 'The same, chosen by the environment, as JSON'},
  ]

  static override flags = {
    target: targetFlag(),
  }

  async run(): Promise<ConfigShowResult | undefined> {
    const {runConfigShow} = await import('../../cli/config-show.js')
    return runConfigShow({config: this.config, json: this.jsonEnabled(), target: this.flags.target})
  }
}
