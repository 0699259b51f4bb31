// The base of every restwire command: shared flags, parsing, and the one place errors become output.
import {Command} from '@oclif/core/command'
import * as Flags from '@oclif/core/flags'
import type * as Interfaces from '@oclif/core/interfaces'
import {errorDocument} from './envelope.js'
import {COLOR_MODES, colorModeInArgv, configureColor, formatJson, renderError, writeStdout} from './output.js'
import {type ParsedCommand, toRestwireError} from './parse-errors.js'
import {type FlagParsers, TARGET_FLAGS, applyTarget} from './targets.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    color: Flags.option({
      default: 'auto' as const,
      description: 'Colour: auto (on a terminal, unless NO_COLOR is set), always (also when piped) or never. Pretty-printing does not depend on it.',
      helpGroup: 'GLOBAL',
      options: COLOR_MODES,
    })(),
    verbose: Flags.boolean({char: 'v', description: 'Show the causes of an error on stderr. On korv/tunnel/pipe call, tunnel nodes and relay send, also trace the call there, like curl -v: address, handshake, host key, authentication, what is sent and received (bodies as sizes, credentials masked), timings.', helpGroup: 'GLOBAL'}),
  }

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>

  override async init(): Promise<void> {
    await super.init()
    const ctor = this.ctor as unknown as T & typeof BaseCommand
    const {args, flags, metadata} = await this.parse({
      args: ctor.args,
      baseFlags: ctor.baseFlags,
      enableJsonFlag: ctor.enableJsonFlag,
      flags: ctor.flags,
      strict: ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
    configureColor(this.flags.color)
    // A client command: the named target (--target, RESTWIRE_TARGET, default_target) fills the flags not typed.
    const targetMap = TARGET_FLAGS[this.id ?? '']
    if (targetMap) {
      const fromDefault = new Set(Object.entries(metadata.flags).filter(([, meta]) => meta?.setFromDefault).map(([name]) => name))
      await applyTarget({definitions: ctor.flags as FlagParsers, flags: this.flags as Record<string, unknown>, fromDefault, map: targetMap})
    }
  }

  override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}; code?: string}): Promise<void> {
    // this.exit() and oclif's own exits keep their meaning.
    if (error.code === 'EEXIT') throw error
    // A parse error comes before init() applied --color.
    if (!this.flags) configureColor(colorModeInArgv(this.argv))
    const rwError = toRestwireError(error, this.describeForErrors())
    process.exitCode = rwError.exitCode
    if (this.jsonEnabled()) {
      this.logJson(errorDocument(rwError))
      return
    }

    process.stderr.write(renderError(rwError, Boolean(this.flags?.verbose) || process.argv.includes('--verbose')))
  }

  /** Every --json document: pretty on a terminal, one compact line when piped (oclif's is always pretty). */
  override logJson(json: unknown): void {
    writeStdout(formatJson(json))
  }

  /** The command's name, flags and arguments, for usage errors that name them. */
  private describeForErrors(): ParsedCommand {
    const ctor = this.ctor as unknown as typeof BaseCommand
    const flags = {...ctor.baseFlags, ...ctor.flags}
    return {
      args: Object.keys(ctor.args ?? {}).map((name) => name.toUpperCase()),
      id: this.id,
      flags: [...Object.keys(flags), ...(ctor.enableJsonFlag ? ['json'] : []), 'help'],
      usage: [this.config.bin, ...(this.id ?? '').split(':')].join(' ').trim(),
    }
  }
}
