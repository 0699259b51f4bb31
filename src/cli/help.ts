// restwire's help: the root page lists every command with its one-line summary (oclif's lists only the
// topics) and says where the guides are. Loaded by oclif (package.json oclif.helpClass) only for help.
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {Help} from '@oclif/core/help'

export class RestwireHelp extends Help {
  protected override async showRootHelp(): Promise<void> {
    this.log(this.formatRoot())
    this.log('')
    // Copies: formatCommands rewrites the ids it is given (korv:call → korv call).
    const commands = this.sortedCommands.filter((command) => command.id && !command.hidden).map((command) => ({...command}))
    this.log(this.formatCommands(commands))
    this.log('')
    this.log(this.section('DOCS', this.docs()))
    this.log('')
  }

  private docs(): Array<[string, string]> {
    const {bin, root} = this.config
    const rows: Array<[string, string]> = [
      [`${bin} COMMAND --help`, 'flags, arguments, examples and exit codes of one command'],
      [join(root, 'README.md'), 'the quick starts'],
    ]
    // An installed package may ship without docs/; the README is always there.
    const guides = join(root, 'docs')
    if (existsSync(guides)) rows.push([guides + '/', 'korv.md, tunnel.md, pipe.md, relay.md, keys.md; errors.md lists every error code'])
    return rows
  }
}
