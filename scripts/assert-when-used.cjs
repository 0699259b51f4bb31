// node:assert for the ssh2 bundle (scripts/bundle.mjs, assertWhenUsed): loaded only when a check fails or
// something other than ok/equal is asked of it. asn1's Writer checks its options with assert.ok and
// assert.equal for the DER public key ssh2 builds of every Ed25519 key it parses; those checks hold, and
// answering them here spares each `korv call` loading node:assert. A check that fails goes to node:assert,
// which throws what it always throws.
'use strict'
let real
const load = () => (real ??= require('node:assert'))
const ok = (...args) => (args.length > 0 && args[0] ? undefined : load().ok(...args))
const equal = (...args) => (args.length > 1 && args[0] == args[1] ? undefined : load().equal(...args))
module.exports = new Proxy(() => {}, {
  apply: (_, __, args) => ok(...args),
  get: (_, key) => (key === 'ok' ? ok : key === 'equal' ? equal : load()[key]),
  has: (_, key) => key in load(),
})
