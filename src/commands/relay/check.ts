import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../../cli/base-command.js'
import type {RelayCheckResult} from '../../cli/relay-check.js'

export default class RelayCheck extends BaseCommand<typeof RelayCheck> {
  static override summary = 'Validate a relay config and list its requests.'
  static override description = `Reads --config (JSON, or YAML for .yaml/.yml) as \`relay start\` would: every problem is reported with the request and field it is in, and the environment variables that hold secrets must be set (their values are never shown). Then lists the requests: a table on a terminal, one JSON line per request when piped, one document with --json.

Exit codes: 0 valid, 2 invalid or unreadable.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --config relay.yaml', description: 'Check a config before (re)loading it'},
    {command: '<%= config.bin %> <%= command.id %> --config relay.json --json', description: 'The requests as JSON'},
  ]

  static override flags = {
    config: Flags.string({char: 'c', description: 'Relay config file.', required: true}),
  }

  async run(): Promise<RelayCheckResult | undefined> {
    const {runRelayCheck} = await import('../../cli/relay-check.js')
    return runRelayCheck({configPath: this.flags.config, json: this.jsonEnabled()})
  }
}
