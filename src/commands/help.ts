import * as Args from '@oclif/core/args'
import {BaseCommand} from '../cli/base-command.js'

export default class HelpCommand extends BaseCommand<typeof HelpCommand> {
  static override summary = 'Show help: every command, or one command or topic.'
  static override description = 'The same as --help: `restwire help korv call` is `restwire korv call --help`.'
  static override enableJsonFlag = false
  static override strict = false
  static override examples = [
    {command: '<%= config.bin %> help', description: 'Every command, with its one-line summary'},
    {command: '<%= config.bin %> help korv call', description: 'One command'},
  ]

  static override args = {
    command: Args.string({description: 'The command or topic (words, e.g. korv call).', required: false}),
  }

  async run(): Promise<void> {
    const words = this.argv.filter((word) => !word.startsWith('-'))
    const id = words.join(':')
    if (id && !this.config.findCommand(id) && !this.config.findTopic(id)) {
      const {unknownCommandError} = await import('../cli/command-not-found.js')
      throw unknownCommandError(words, [], this.config, 'help')
    }

    const {loadHelpClass} = await import('@oclif/core/help')
    const Help = await loadHelpClass(this.config)
    await new Help(this.config, this.config.pjson.oclif.helpOptions ?? {}).showHelp(words)
  }
}
