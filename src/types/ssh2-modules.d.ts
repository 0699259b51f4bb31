// Types for the ssh2 modules restwire imports directly: the package index also loads its server, key
// generator and HTTP agents (node:https, TLS), which a client start-up does not need.
declare module 'ssh2/lib/client.js' {
  import type {Client} from 'ssh2'

  const ClientClass: typeof Client
  export default ClientClass
}

declare module 'ssh2/lib/protocol/keyParser.js' {
  import type {utils} from 'ssh2'

  // CommonJS exports, reached through the default export (Node does not detect them as named ones).
  const keyParser: {parseKey: typeof utils.parseKey}
  export default keyParser
}
