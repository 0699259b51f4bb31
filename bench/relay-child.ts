// The relay in its own process for the bench: `node --import tsx bench/relay-child.ts <httpPort>` relays
// the request "echo" (POST http://127.0.0.1:<httpPort>/echo, a JSON body) on tcp://127.0.0.1:<free port>.
// Prints {"pid", "port"} once listening; exits when its stdin ends (so it dies with the bench).
import {validateRelayConfig} from '../src/core/relay/config.js'
import {startRelayServer} from '../src/core/relay/server.js'

const httpPort = Number(process.argv[2])
const config = validateRelayConfig({requests: {echo: {method: 'POST', url: `http://127.0.0.1:${httpPort}/echo`}}}, 'bench', {readCa: () => ''})
const relay = await startRelayServer({config, listen: {host: '127.0.0.1', kind: 'tcp', port: 0}})
process.stdout.write(JSON.stringify({pid: process.pid, port: relay.port}) + '\n')
process.stdin.resume()
process.stdin.on('end', () => {
  void relay.close({drainMs: 1000}).finally(() => process.exit(0))
})
