// The inspector's flags. On the servers that have an HTTP port (tunnel gateway, pipe serve) it is on by
// default at `/` of that port, with --no-inspect to turn it off; korv serve and relay start get it on a
// port of their own with --inspect HOST:PORT. --inspect-token (or RESTWIRE_INSPECT_TOKEN) is the bearer
// token that lets it leave loopback.
import * as Flags from '@oclif/core/flags'
import {type TcpAddress, addressForms, parseAddress} from '../core/address.js'

const TOKEN_DESCRIPTION = 'Bearer token every inspector route with data needs (at least 16 characters); required to put the inspector on a non-loopback address. Prefer the environment variable: a flag shows in ps.'
const INSPECT_SPEC = {role: 'listen'} as const

/** tunnel gateway, pipe serve: the inspector on the --http port, unless --no-inspect. */
export const inspectOnHttpFlags = {
  inspect: Flags.boolean({allowNo: true, default: true, description: 'Serve the inspector page at / of the --http port (docs/inspect.md); --no-inspect turns it off and keeps no request bodies.', helpGroup: 'INSPECTOR'}),
  'inspect-token': Flags.string({description: TOKEN_DESCRIPTION, env: 'RESTWIRE_INSPECT_TOKEN', helpGroup: 'INSPECTOR'}),
}

/** korv serve, relay start: the inspector on a port of its own, off unless --inspect is given. */
export const inspectOwnPortFlags = {
  inspect: Flags.custom<TcpAddress>({
    description: `Serve the inspector page on this address (docs/inspect.md); off by default. A bare port means loopback. Takes ${addressForms(INSPECT_SPEC)}.`,
    helpGroup: 'INSPECTOR',
    helpValue: 'HOST:PORT',
    async parse(input, _context, flagOptions) {
      return parseAddress(input, INSPECT_SPEC, `--${flagOptions.name}`) as TcpAddress
    },
  })(),
  'inspect-token': Flags.string({description: TOKEN_DESCRIPTION, env: 'RESTWIRE_INSPECT_TOKEN', helpGroup: 'INSPECTOR'}),
}
