import * as Args from '@oclif/core/args'
import {BaseCommand} from '../cli/base-command.js'

export default class Completion extends BaseCommand<typeof Completion> {
  static override summary = 'Print a shell completion script (bash or zsh) for commands, flags and flag values.'
  static override description = `The script is generated from the installed commands, so a TAB starts no process; after --target it offers the target names of the restwire home's config.yaml (read by awk). Load it in your shell's start-up file, or save it where your shell looks for completions.`

  static override examples = [
    {command: 'eval "$(<%= config.bin %> <%= command.id %> bash)"', description: 'bash: add this line to ~/.bashrc'},
    {command: '<%= config.bin %> <%= command.id %> bash > /etc/bash_completion.d/<%= config.bin %>', description: 'bash: install it for every user'},
    {command: 'eval "$(<%= config.bin %> <%= command.id %> zsh)"', description: 'zsh: add this line to ~/.zshrc (after compinit)'},
  ]

  static override enableJsonFlag = false
  static override args = {
    shell: Args.string({description: 'The shell.', options: ['bash', 'zsh'], required: true}),
  }

  async run(): Promise<void> {
    const {completionScript} = await import('../cli/completion.js')
    const commands = this.config.commands
      .filter((command) => !command.hidden)
      .map((command) => {
        const flags = Object.entries(command.flags).filter(([, flag]) => !flag.hidden)
        return {
          flags: flags.flatMap(([name, flag]) => [`--${name}`, ...(flag.char ? [`-${flag.char}`] : []), ...(flag.type === 'boolean' && flag.allowNo ? [`--no-${name}`] : [])]),
          id: command.id,
          options: Object.fromEntries(flags.filter(([, flag]) => flag.type === 'option' && flag.options?.length).map(([name, flag]) => [`--${name}`, [...((flag as {options?: readonly string[]}).options ?? [])]])),
        }
      })
    process.stdout.write(completionScript(this.args.shell as 'bash' | 'zsh', this.config.bin, commands))
  }
}
