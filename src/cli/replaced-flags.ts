// Flags that one vocabulary (docs/cli.md, "Conventions") replaced: typing an old one is a usage error that
// names its replacement, instead of "unknown flag". Keyed by command id; `-x` entries are short flags.

const TO = '--to HOST:PORT'
const SERVER_PORT = 'was replaced by --listen HOST:PORT (a bare PORT means 127.0.0.1:PORT)'
const TIMEOUT = 'is no longer a short flag: timeouts are --timeout DURATION (-t is the key type of keys gen/ca/cert)'

const SERVER: Readonly<Record<string, string>> = {'--host': SERVER_PORT, '--port': SERVER_PORT, '-p': SERVER_PORT}
const GATEWAY_CLIENT: Readonly<Record<string, string>> = {'-t': TIMEOUT}

export const REPLACED_FLAGS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'keys:ca': {'--name': 'was replaced by --common-name NAME (--name is an identity name)', '--out': 'was replaced by --dir DIR', '-o': 'was replaced by --dir DIR (-o is an output file)'},
  'keys:cert': {'--out': 'was replaced by --dir DIR', '-o': 'was replaced by --dir DIR (-o is an output file)'},
  'keys:gen': {'--out': 'was replaced by -f, --file PATH (as ssh-keygen -f)'},
  'korv:call': {
    '--host': `was replaced by ${TO} (a bare HOST means port 8022)`,
    '--port': `was replaced by ${TO} (a bare PORT means 127.0.0.1:PORT)`,
    '-H': `(--host) was replaced by ${TO}; -H is not a restwire flag`,
    '-p': `(--port) was replaced by ${TO}`,
    '-t': TIMEOUT,
  },
  'korv:serve': SERVER,
  'pipe:call': GATEWAY_CLIENT,
  'pipe:connect': {'-t': TIMEOUT},
  'pipe:serve': {...SERVER, '-t': TIMEOUT},
  'relay:send': {'-t': TIMEOUT},
  'tunnel:call': GATEWAY_CLIENT,
  'tunnel:gateway': {...SERVER, '-t': TIMEOUT},
  'tunnel:nodes': GATEWAY_CLIENT,
}

/** `"--port was replaced by --listen HOST:PORT"`, or undefined when `written` (`--port=22`, `-p`) is not a replaced flag. */
export function replacedFlagMessage(commandId: string | undefined, written: string): string | undefined {
  const name = written.split('=')[0]!
  const message = REPLACED_FLAGS[commandId ?? '']?.[name]
  return message ? `${name} ${message}` : undefined
}
