// The fast entry of `restwire korv call`, bundled into dist/korv-call.cjs (scripts/bundle.mjs). It runs
// the same KorvCall command class through the same oclif Command flow (BaseCommand's parse, targets and
// catch(), the --json result), but without oclif's Config.load: no package.json and manifest reading,
// no plugin discovery, no command routing, and none of the rest of the CLI in the file V8 reads. That
// load was a third of a cold `korv call`. bin/run.js takes this path only for `korv call` without
// --help; help, completion and every other command go through dist/cli.cjs.
import type {Config} from '@oclif/core/config'
import KorvCall from './commands/korv/call.js'

declare const RESTWIRE_PACKAGE: {name: string; version: string; bin: string}

/**
 * What a command instance reads of its Config (oclif 4's Command: bin, userAgent, the scoped env var
 * for --json, the `preparse` hook, the id lookup of its deprecation check). package.json declares no
 * preparse, init, prerun or postrun hooks, so there are none to run (test/commands/korv-call-fast.test.ts
 * keeps it so).
 */
export function commandConfig(pkg: {name: string; version: string; bin: string} = RESTWIRE_PACKAGE): Config {
  const envPrefix = pkg.bin.toUpperCase().replaceAll('-', '_')
  const config = {
    bin: pkg.bin,
    binAliases: undefined,
    commandIDs: [KorvCall.id],
    findCommand: (id: string) => (id === KorvCall.id ? KorvCall : undefined),
    name: pkg.name,
    pjson: {name: pkg.name, oclif: {bin: pkg.bin}, version: pkg.version},
    runHook: async () => ({failures: [], successes: []}),
    scopedEnvVar: (key: string) => process.env[`${envPrefix}_${key}`],
    scopedEnvVarKey: (key: string) => `${envPrefix}_${key}`,
    scopedEnvVarKeys: (key: string) => [`${envPrefix}_${key}`],
    topicSeparator: ' ',
    userAgent: `${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-${process.version}`,
    version: pkg.version,
  }
  return config as unknown as Config
}

/** `restwire korv call ARGV...`: what oclif's execute() does for it, minus the routing. */
export async function runKorvCallCommand(argv: string[]): Promise<void> {
  KorvCall.id = 'korv:call'
  try {
    // _run() is what oclif's Command.run() calls once it has a Config (init, run, catch, the --json result).
    const command = new KorvCall(argv, commandConfig()) as unknown as {_run(): Promise<unknown>}
    await command._run()
  } catch (error) {
    // BaseCommand.catch() rethrows only oclif's exits (this.exit()); they carry their code, as in handle().
    const exit = (error as {oclif?: {exit?: number}}).oclif?.exit
    if ((error as {code?: string}).code === 'EEXIT' && exit !== undefined) process.exitCode = exit
    else throw error
  }
}
