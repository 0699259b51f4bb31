import {BaseCommand} from '../cli/base-command.js'

export interface VersionResult {
  version: string
  node: string
  platform: string
  arch: string
}

export default class VersionCommand extends BaseCommand<typeof VersionCommand> {
  static override summary = 'Print the restwire version (the same as --version).'
  static override examples = [
    {command: '<%= config.bin %> version', description: 'restwire/0.1.0 linux-x64 node-v20.18.0'},
    {command: '<%= config.bin %> version --json', description: 'As JSON'},
  ]

  async run(): Promise<VersionResult> {
    if (!this.jsonEnabled()) this.log(this.config.userAgent)
    return {arch: this.config.arch, node: process.version, platform: this.config.platform, version: this.config.version}
  }
}
