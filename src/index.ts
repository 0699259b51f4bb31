// The CLI's entry: every command, for oclif's explicit command discovery, and oclif's execute().
// The build bundles this file (with its dependencies) into dist/cli.cjs so that a cold start reads one
// file instead of resolving hundreds of modules; each command loads its heavy parts lazily in run().
import Completion from './commands/completion.js'
import ConfigShow from './commands/config/show.js'
import KeysCa from './commands/keys/ca.js'
import KeysCert from './commands/keys/cert.js'
import KeysGen from './commands/keys/gen.js'
import KorvCall from './commands/korv/call.js'
import KorvServe from './commands/korv/serve.js'
import PipeCall from './commands/pipe/call.js'
import PipeConnect from './commands/pipe/connect.js'
import PipeServe from './commands/pipe/serve.js'
import RelayCheck from './commands/relay/check.js'
import RelaySend from './commands/relay/send.js'
import RelayStart from './commands/relay/start.js'
import TunnelCall from './commands/tunnel/call.js'
import TunnelExpose from './commands/tunnel/expose.js'
import TunnelNodes from './commands/tunnel/nodes.js'
import TunnelGateway from './commands/tunnel/gateway.js'
import HelpCommand from './commands/help.js'
import VersionCommand from './commands/version.js'
import type {CommandNotFoundOptions} from './cli/command-not-found.js'

// Subpath imports keep the rest of @oclif/core (its index loads every module) out of the bundle.
export {execute} from '@oclif/core/execute'
// oclif loads these through package.json (oclif.helpClass, oclif.hooks) from this bundle, only when needed.
export {RestwireHelp} from './cli/help.js'

export async function COMMAND_NOT_FOUND(options: CommandNotFoundOptions): Promise<void> {
  const {commandNotFound} = await import('./cli/command-not-found.js')
  await commandNotFound(options)
}

export const COMMANDS = {
  completion: Completion,
  'config:show': ConfigShow,
  'keys:ca': KeysCa,
  'keys:cert': KeysCert,
  'keys:gen': KeysGen,
  'korv:call': KorvCall,
  'korv:serve': KorvServe,
  'pipe:call': PipeCall,
  'pipe:connect': PipeConnect,
  'pipe:serve': PipeServe,
  'relay:check': RelayCheck,
  'relay:send': RelaySend,
  'relay:start': RelayStart,
  'tunnel:call': TunnelCall,
  'tunnel:expose': TunnelExpose,
  'tunnel:nodes': TunnelNodes,
  'tunnel:gateway': TunnelGateway,
  help: HelpCommand,
  version: VersionCommand,
}
