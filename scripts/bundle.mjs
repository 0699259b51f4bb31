// Bundles the CLI entry (src/index.ts) and what it imports into one CommonJS file, dist/cli.cjs, and
// `korv call`'s fast entry (src/korv-call-entry.ts) into dist/korv-call.cjs. bin/run.js loads them
// through a V8 code cache (src/code-cache.ts): on Node 20 most of a cold start is
// resolving, reading and compiling hundreds of modules. Dynamic import() becomes require(), because
// code loaded from a V8 cache by vm.Script cannot use import() on Node 20.
import {readFile, writeFile} from 'node:fs/promises'
import {Module} from 'node:module'
import {dirname} from 'node:path'
import {build} from 'esbuild'

// Source rewrites of ssh2's own files in a bundle: each names its file, the text it replaces and why. A
// text not found fails the build (an ssh2 upgrade must look at each again).
function ssh2Rewrites(rewrites) {
  return {
    name: 'ssh2-rewrites',
    setup(build) {
      build.onLoad({filter: /ssh2[\\/]lib[\\/].*\.js$/}, async ({path}) => {
        const mine = rewrites.filter(({file}) => path.replaceAll('\\', '/').endsWith(`/ssh2/lib/${file}`))
        if (mine.length === 0) return undefined
        let contents = await readFile(path, 'utf8')
        for (const {from, to} of mine) {
          if (contents.split(from).length !== 2) throw new Error(`scripts/bundle.mjs: ssh2/lib/${mine[0].file} no longer contains ${JSON.stringify(from)} once`)
          contents = contents.replace(from, to)
        }
        return {contents, loader: 'js'}
      })
    },
  }
}

// ssh2 loads its optional native crypto binding relative to its own file; inside the bundle it is taken
// from the ssh2 package instead (absent when ssh2's install script did not build it: ssh2 then runs its
// ciphers on node:crypto, more slowly; docs/architecture.md, "The published package"). It is opened first
// from this package's node_modules (beside dist/, where an install puts it) with process.dlopen, what
// require() does for a .node file once it has found it: resolving the package name walks the node_modules
// directories and reads ssh2's package.json, and require() then stats the file and takes the real path of
// each of its directories, together about 1.5 ms of every cold `korv call` (docs/benchmarks.md, round
// 14). Anywhere else, require.resolve finds it.
const SSH2_NATIVE_BINDING = {
  file: 'protocol/crypto.js',
  from: "require('./crypto/build/Release/sshcrypto.node')",
  to: `(() => {
    const file = 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node';
    try {
      const addon = { exports: {} };
      process.dlopen(addon, require('path').join(__dirname, '..', 'node_modules', file));
      return addon.exports;
    } catch {
      return require(require.resolve(file));
    }
  })()`,
}

// What a `korv call` that connects itself does not load (dist/ssh2-client.cjs; issue 15, round 10):
const SSH2_CLIENT_LOAD_LESS = [
  // The Poly1305 of chacha20-poly1305 without the native binding is a WebAssembly module, compiled and
  // instantiated at load (5 ms of CPU), and every connection waits for it before it sends its version
  // line. With the binding (its own ChaCha20-Poly1305) ssh2 never uses it (only its own tests force the
  // JS cipher): then nothing is compiled and there is nothing to wait for.
  {
    file: 'protocol/crypto.js',
    from: 'init: (() => {',
    to: 'init: ChaChaPolyCipher && ChaChaPolyDecipher ? Promise.resolve() : (() => {',
  },
  // Node's child_process (and dgram under it) only for the Windows agents (Pageant, Cygwin) that spawn a helper.
  {
    file: 'agent.js',
    from: "const { execFile, spawn } = require('child_process');",
    to: "const execFile = (...args) => require('child_process').execFile(...args);\nconst spawn = (...args) => require('child_process').spawn(...args);",
  },
  // bcrypt-pbkdf, and the tweetnacl under it (its tables built at load: 2-3 ms), only for a private key
  // encrypted with a passphrase.
  {
    file: 'protocol/keyParser.js',
    from: "const bcrypt_pbkdf = require('bcrypt-pbkdf').pbkdf;",
    to: "const bcrypt_pbkdf = (...args) => require('bcrypt-pbkdf').pbkdf(...args);",
  },
  // The SFTP client (ssh2's largest module, evaluated at load) only for an SFTP session: client.js makes
  // one with it, and utils.js asks whether a closing channel is one. A channel whose class is not named
  // SFTP is not one, and can be told so without loading the module.
  {file: 'client.js', from: "const { SFTP } = require('./protocol/SFTP.js');\n", to: ''},
  {file: 'client.js', from: '? new SFTP(this, chanInfo, { debug })', to: "? new (require('./protocol/SFTP.js').SFTP)(this, chanInfo, { debug })"},
  {file: 'utils.js', from: "const { SFTP } = require('./protocol/SFTP.js');\n", to: ''},
  {
    file: 'utils.js',
    from: 'if (channel.constructor !== SFTP',
    to: "if (!(channel.constructor.name === 'SFTP' && channel.constructor === require('./protocol/SFTP.js').SFTP)",
  },
  // Node's dns only for forceIPv4/forceIPv6 (net.connect resolves a host name itself).
  {
    file: 'client.js',
    from: "const { lookup: dnsLookup } = require('dns');",
    to: "const dnsLookup = (...args) => require('dns').lookup(...args);",
  },
  // Public key authentication with a key file sends the signed request at once, without the query
  // (a request without signature, answered by USERAUTH_PK_OK) that ssh2 sends first: RFC 4252 section 7
  // allows either, and a key the server refuses fails the same way (USERAUTH_FAILURE, the next key).
  // One round trip less per call. Nothing is revealed that the query would not: the public key, and a
  // signature over this session's identifier, which binds it to this connection, whose host key was
  // verified before authentication began. The signing is that of the USERAUTH_PK_OK handler; an agent's
  // keys (which may ask their user before signing) are still queried first.
  {
    file: 'client.js',
    from: `            proto.authPK(username, curAuth.key, keyAlgo);
            break;`,
    to: `            proto.authPK(username, curAuth.key, keyAlgo, (buf, cb) => {
              const hashAlgo = (curAuth.keyAlgos ? curAuth.keyAlgos[0][1] : undefined);
              const signature = curAuth.key.sign(buf, hashAlgo);
              if (signature instanceof Error) {
                signature.message =
                  \`Error signing data with key: \${signature.message}\`;
                signature.level = 'client-authentication';
                this.emit('error', signature);
                return tryNextAuth();
              }
              cb(signature);
            });
            break;`,
  },
  // Node's zlib, and an Inflate stream made at load for its native handle's class, only when a connection
  // negotiates compression (korv's server and client prefer none): loaded by the compressing reader and
  // writer, the only users of those names.
  {
    file: 'protocol/zlib.js',
    from: `const {
  createInflate,
  constants: {
    DEFLATE,
    INFLATE,
    Z_DEFAULT_CHUNK,
    Z_DEFAULT_COMPRESSION,
    Z_DEFAULT_MEMLEVEL,
    Z_DEFAULT_STRATEGY,
    Z_DEFAULT_WINDOWBITS,
    Z_PARTIAL_FLUSH,
  }
} = require('zlib');
const ZlibHandle = createInflate()._handle.constructor;`,
    to: `let DEFLATE, INFLATE, Z_DEFAULT_CHUNK, Z_DEFAULT_COMPRESSION, Z_DEFAULT_MEMLEVEL, Z_DEFAULT_STRATEGY,
  Z_DEFAULT_WINDOWBITS, Z_PARTIAL_FLUSH, ZlibHandle;
function loadZlib() {
  if (ZlibHandle !== undefined) return;
  const { createInflate, constants } = require('zlib');
  ({ DEFLATE, INFLATE, Z_DEFAULT_CHUNK, Z_DEFAULT_COMPRESSION, Z_DEFAULT_MEMLEVEL, Z_DEFAULT_STRATEGY,
     Z_DEFAULT_WINDOWBITS, Z_PARTIAL_FLUSH } = constants);
  ZlibHandle = createInflate()._handle.constructor;
}`,
  },
  {file: 'protocol/zlib.js', from: 'this._zlib = new Zlib(DEFLATE);', to: 'loadZlib();\n    this._zlib = new Zlib(DEFLATE);'},
  {file: 'protocol/zlib.js', from: 'this._zlib = new Zlib(INFLATE);', to: 'loadZlib();\n    this._zlib = new Zlib(INFLATE);'},
  // ssh2 learns at load whether Ed25519 works by parsing a PEM key, signing and verifying (about 2 ms of
  // CPU of every cold call). Node's crypto on OpenSSL 3 outside FIPS mode always has it (its default
  // provider); anywhere else (another OpenSSL, FIPS mode) the test runs as before.
  {
    file: 'protocol/constants.js',
    from: `const eddsaSupported = (() => {
  if (typeof crypto.sign === 'function'`,
    to: `const eddsaSupported = (() => {
  if (/^3\\./.test(process.versions.openssl) && typeof crypto.getFips === 'function' && crypto.getFips() === 0)
    return true;
  if (typeof crypto.sign === 'function'`,
  },
]

// The fast entry of `korv call` (src/korv-call-entry.ts) runs its command without oclif's Config.load:
// oclif's Command module needs its config module only for that (static Command.run), so that module and
// what it pulls in (plugin loader, manifest, TypeScript path mapping) are left out of that bundle.
const withoutOclifConfig = {
  name: 'without-oclif-config',
  setup(build) {
    build.onResolve({filter: /^\.\/config$/}, ({importer}) =>
      /@oclif[\\/]core[\\/]lib[\\/]command\.js$/.test(importer) ? {namespace: 'oclif-config-stub', path: 'config'} : undefined,
    )
    build.onLoad({filter: /.*/, namespace: 'oclif-config-stub'}, () => ({
      contents: "exports.Config = {load() { throw new Error('oclif Config.load is not in the korv call bundle') }}",
      loader: 'js',
    }))
  },
}

// In that bundle, ssh2 (its client, key parser and, for key generation, the rest) is a bundle of its own (dist/ssh2-client.cjs), loaded through bin/run.js
// with its own code cache only when a call connects itself: a call through a persisted connection reads
// and deserialises none of it, and the caches of both paths hold what each path runs (one shared cache
// would lack ssh2 when a persisted call wrote it, or carry it into every persisted call).
const ssh2ClientApart = {
  name: 'ssh2-client-apart',
  setup(build) {
    const exportOf = {'ssh2': 'index', 'ssh2/lib/client.js': 'client', 'ssh2/lib/protocol/keyParser.js': 'keyParser'}
    build.onResolve({filter: /^ssh2(\/lib\/(client|protocol\/keyParser)\.js)?$/}, ({path}) => ({namespace: 'ssh2-client-apart', path: exportOf[path]}))
    build.onLoad({filter: /.*/, namespace: 'ssh2-client-apart'}, ({path}) => ({
      contents: `module.exports = globalThis[Symbol.for('restwire.requireBundle')]('ssh2-client.cjs').${path}`,
      loader: 'js',
    }))
  },
}

// safer-buffer (asn1's, under ssh2's key parser) copies every export of node:buffer into a new object at
// load, to give Node < 4.5 Buffer.alloc and Buffer.from; Node 20's Buffer has them. Its users only read
// `.Buffer`: node:buffer itself serves them, and a cold `korv call` skips the copy.
const saferBufferIsBuffer = {
  name: 'safer-buffer-is-buffer',
  setup(build) {
    build.onResolve({filter: /^safer-buffer$/}, () => ({namespace: 'safer-buffer-is-buffer', path: 'safer-buffer'}))
    build.onLoad({filter: /.*/, namespace: 'safer-buffer-is-buffer'}, () => ({contents: "module.exports = require('node:buffer')", loader: 'js'}))
  },
}

// oclif's logger creates its `debug` loggers at load; loading `debug` (tty, supports-color) cost a few ms
// of every `korv call`. Without $DEBUG nothing would print, so there the loggers are no-ops; with it, the
// real package (bundled, evaluated only then).
const debugWhenAsked = {
  name: 'debug-when-asked',
  setup(build) {
    build.onResolve({filter: /^debug$/}, async ({importer, kind, resolveDir}) => {
      if (!/@oclif[\\/]core[\\/]/.test(importer)) return undefined
      const real = await build.resolve('debug', {kind, resolveDir})
      return {namespace: 'debug-when-asked', path: real.path}
    })
    build.onLoad({filter: /.*/, namespace: 'debug-when-asked'}, ({path}) => ({
      contents: `const quiet = () => Object.assign(() => {}, {enabled: false, extend: quiet})
module.exports = process.env.DEBUG ? require(${JSON.stringify(path)}) : quiet`,
      loader: 'js',
      resolveDir: dirname(path),
    }))
  },
}

// node:assert (with its AssertionError, colours and call tracker: 1-2 ms, and it makes process.stderr) is
// required at load by asn1's BER reader and writer and by ssh2's SFTP helpers, which call it only while
// they work: in the ssh2 bundle it is scripts/assert-when-used.cjs, which loads it when needed.
const assertWhenUsed = {
  name: 'assert-when-used',
  setup(build) {
    build.onResolve({filter: /^assert$/}, () => ({namespace: 'assert-when-used', path: 'assert'}))
    build.onLoad({filter: /.*/, namespace: 'assert-when-used'}, async () => ({contents: await readFile('scripts/assert-when-used.cjs', 'utf8'), loader: 'js'}))
  },
}

// chalk builds its styles and asks supports-color (node:tty, node:os, the environment) at load: 1.5-2 ms
// of a `korv call` fast path, whose colour level src/cli/output.ts sets itself at load (configureColor)
// and which is uncoloured whenever stdout and stderr are not terminals. In those bundles `chalk` is a
// stand-in: it keeps the levels set on it, answers the plain style chains (`c.dim`, `c.red.bold`, ...) at
// level 0 as chalk does (the arguments joined by a space), and anything else, or any style at a level
// above 0, goes to the real chalk (bundled, evaluated then, given the levels set so far).
const {colorNames: CHALK_COLORS, modifierNames: CHALK_MODIFIERS} = await import('chalk')
const chalkWhenColoured = {
  name: 'chalk-when-coloured',
  setup(build) {
    build.onResolve({filter: /^chalk$/}, async ({kind, pluginData, resolveDir}) => {
      if (pluginData === 'chalk-when-coloured') return undefined
      const real = await build.resolve('chalk', {kind, pluginData: 'chalk-when-coloured', resolveDir})
      return {namespace: 'chalk-when-coloured', path: real.path}
    })
    build.onLoad({filter: /.*/, namespace: 'chalk-when-coloured'}, ({path}) => ({
      contents: `const STYLES = new Set(${JSON.stringify([...CHALK_MODIFIERS, ...CHALK_COLORS])})
const levels = {chalk: undefined, chalkStderr: undefined}
let real
function load() {
  if (!real) {
    real = require(${JSON.stringify(path)})
    if (levels.chalk !== undefined) real.default.level = levels.chalk
    if (levels.chalkStderr !== undefined) real.chalkStderr.level = levels.chalkStderr
  }
  return real
}
const plain = new Proxy(function () {}, {
  apply: (_, __, args) => (args.length === 1 ? '' + args[0] : args.join(' ')),
  get: (target, name) => (typeof name === 'string' && STYLES.has(name) ? plain : target[name]),
})
const instance = (name) => () => (name === 'chalk' ? load().default : load().chalkStderr)
function standIn(name) {
  const actual = instance(name)
  return new Proxy({}, {
    get(_, key) {
      if (!real && levels[name] === 0 && typeof key === 'string' && STYLES.has(key)) return plain
      if (!real && key === 'level' && levels[name] !== undefined) return levels[name]
      return actual()[key]
    },
    set(_, key, value) {
      if (key === 'level' && !real) levels[name] = value
      else actual()[key] = value
      return true
    },
  })
}
export default standIn('chalk')
export const chalkStderr = standIn('chalkStderr')`,
      loader: 'js',
      resolveDir: dirname(path),
    }))
  },
}

// node:fs/promises costs a few ms to load (its FileHandle, streams and readline), and a plain `korv call`
// (both fast paths) only stats, reads and unlinks a few small files: in those bundles, those calls are
// node:fs's synchronous ones (already loaded by Node's start-up) under a promise: the same system calls
// and errors, without libuv's thread pool, which the first asynchronous file call starts (four threads
// the main thread waits for) and which then costs two thread wake-ups per call; on a loaded machine each
// wake-up is a wait for a core. Any other function of the module is the real one, loaded when first called.
const FS_PROMISES_SYNC = ['access', 'lstat', 'mkdir', 'readFile', 'stat', 'unlink']
const FS_PROMISES_REAL = ['appendFile', 'chmod', 'link', 'open', 'readdir', 'rename', 'rm', 'writeFile']
const fsPromisesSync = {
  name: 'fs-promises-sync',
  setup(build) {
    build.onResolve({filter: /^node:fs\/promises$/}, () => ({namespace: 'fs-promises-sync', path: 'fs/promises'}))
    build.onLoad({filter: /.*/, namespace: 'fs-promises-sync'}, () => ({
      contents: [
        // Not \`import fs from 'node:fs'\`: esbuild would copy fs's hundred exports into a namespace object, a getter each.
        "const fs = process.getBuiltinModule('node:fs')",
        'const settled = (call) => (...args) => { try { return Promise.resolve(call(...args)) } catch (error) { return Promise.reject(error) } }',
        ...FS_PROMISES_SYNC.map((name) => `export const ${name} = settled(fs.${name}Sync)`),
        ...FS_PROMISES_REAL.map((name) => `export const ${name} = (...args) => fs.promises.${name}(...args)`),
      ].join('\n'),
      loader: 'js',
    }))
  },
}

// Likewise node:zlib: that call's messages are a few dozen bytes, framed as stored gzip members whose
// only zlib work is a CRC-32. In that bundle, CRC-32 of a small Buffer is computed here (the same
// polynomial and result as zlib.crc32); everything else, and large inputs, go to the real module, loaded
// when first used.
const zlibWhenNeeded = {
  name: 'zlib-when-needed',
  setup(build) {
    build.onResolve({filter: /^node:zlib$/}, () => ({namespace: 'zlib-when-needed', path: 'zlib'}))
    build.onLoad({filter: /.*/, namespace: 'zlib-when-needed'}, () => ({
      contents: `let real
const zlib = () => (real ??= process.getBuiltinModule('node:zlib'))
let table
function crc32(data, value = 0) {
  if (typeof data === 'string' || data.length > 4096) return zlib().crc32(data, value)
  if (!table) {
    table = new Int32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c
    }
  }
  let crc = ~value
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8)
  return ~crc >>> 0
}
export default new Proxy({}, {get: (_, name) => (name === 'crc32' ? crc32 : zlib()[name])})`,
      loader: 'js',
    }))
  },
}

// ssh2's constants ask cpu-features (a native add-on: its package.json, a dlopen and CPUID decoding,
// 6-11 ms of a cold `korv call` here) two things at load: is this x86, and has the CPU AES instructions
// (its cipher order: AES-GCM first, or ChaCha20-Poly1305 first without them). On Linux x86 the flags
// line of /proc/cpuinfo answers both (the kernel's CPUID reading); anywhere else, or when it cannot be
// read, the real add-on answers.
const cpuFeaturesFromProc = {
  name: 'cpu-features-from-proc',
  setup(build) {
    build.onResolve({filter: /^cpu-features$/}, ({namespace}) =>
      namespace === 'cpu-features-from-proc' ? {external: true, path: 'cpu-features'} : {namespace: 'cpu-features-from-proc', path: 'cpu-features'},
    )
    build.onLoad({filter: /.*/, namespace: 'cpu-features-from-proc'}, () => ({
      contents: `module.exports = function cpuFeatures() {
  if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'ia32')) {
    const fs = require('node:fs')
    let fd
    try {
      fd = fs.openSync('/proc/cpuinfo', 'r')
      const buffer = Buffer.alloc(16384)
      const text = buffer.toString('latin1', 0, fs.readSync(fd, buffer, 0, buffer.length, 0))
      const flags = /^flags\\s*:(.*)$/m.exec(text)
      if (flags) return {arch: 'x86', flags: {aes: flags[1].trim().split(/\\s+/).includes('aes')}}
    } catch {
      // The add-on, below.
    } finally {
      if (fd !== undefined) fs.closeSync(fd)
    }
  }
  return require('cpu-features')()
}`,
      loader: 'js',
    }))
  },
}

const pkg = JSON.parse(await readFile('package.json', 'utf8'))

const common = {
  // import.meta.url, made when first read: pathToFileURL at every bundle's load was 0.5-0.7 ms of each
  // start, and every use is inside a function that most runs never call.
  banner: {js: "const __rwImportMeta = {get url() { return this.u ??= require('node:url').pathToFileURL(__filename).href }};"},
  bundle: true,
  define: {'import.meta.url': '__rwImportMeta.url'},
  // Outside the bundle: optional native add-ons, TypeScript loaders (they locate their own files) and
  // undici (loaded only by --upstream and the relay), yaml (only for a YAML relay config), @peculiar/x509
  // and its Reflect polyfill (loaded only by keys ca / keys cert), the NATS client (only for pipe serve
  // --cluster), prom-client (only when metrics are scraped).
  external: ['cpu-features', 'typescript', 'tsx', 'undici', 'yaml', 'prom-client', '@peculiar/x509', 'reflect-metadata', '@nats-io/*', '*.node'],
  format: 'cjs',
  legalComments: 'none',
  logLevel: 'warning',
  platform: 'node',
  supported: {'dynamic-import': false},
  target: 'node20',
  write: false,
}

// The bundles a plain `korv call` reads (korv-call-persisted, korv-call-cold, ssh2-client), made for a
// start that touches less memory: every 4 KiB page a process touches first is a fault, about 11 us on
// this VM (docs/benchmarks.md). Without indentation and line breaks they are a third smaller (ssh2's
// 0.73 MB becomes 0.46), a third fewer pages for the file's bytes and again for its text. Names stay, so
// a stack trace still says which function, not which line. Each is also written inside Node's module
// wrapper, the text code-cache.cjs would otherwise build around it by concatenation, so that V8 compiles
// the text as read instead of flattening a second copy; they load through requireWithCodeCache only.
const buildFastPath = (options) => build({...common, minifyWhitespace: true, ...options}).then((result) => ({...result, wrapped: true}))

const results = await Promise.all([
  // bin/run.js is CommonJS (an ES module entry costs Node's ES module loader): it requires this one.
  build({
    bundle: true,
    entryPoints: ['src/code-cache.ts'],
    format: 'cjs',
    legalComments: 'none',
    logLevel: 'warning',
    outfile: 'dist/code-cache.cjs',
    platform: 'node',
    target: 'node20',
    write: false,
  }),
  build({...common, entryPoints: ['src/index.ts'], outfile: 'dist/cli.cjs', plugins: [ssh2Rewrites([SSH2_NATIVE_BINDING])]}),
  build({
    ...common,
    define: {...common.define, RESTWIRE_PACKAGE: JSON.stringify({bin: pkg.oclif.bin, name: pkg.name, version: pkg.version})},
    entryPoints: ['src/korv-call-entry.ts'],
    // The prompts (a passphrase, --interactive) load from node_modules (their CommonJS build) when asked
    // for: with their text encodings they were a third of the file every call reads.
    external: [...common.external, '@inquirer/*'],
    outfile: 'dist/korv-call.cjs',
    plugins: [withoutOclifConfig, ssh2ClientApart, debugWhenAsked],
  }),
  // A call through a live persisted connection (src/korv-call-persisted-entry.ts): bin/run.js tries it
  // before the bundle above. No oclif, no ssh2, no prompts.
  buildFastPath({
    // The \`performance\` global loads perf_hooks; this bundle only takes differences of it.
    banner: {js: `${common.banner.js}\nconst __rwNow = () => { const [s, ns] = process.hrtime(); return s * 1e3 + ns / 1e6 };`},
    define: {...common.define, 'performance.now': '__rwNow', RESTWIRE_PACKAGE: JSON.stringify({bin: pkg.oclif.bin, name: pkg.name, version: pkg.version})},
    entryPoints: ['src/korv-call-persisted-entry.ts'],
    external: [...common.external, '@inquirer/*', '@oclif/*', 'ssh2'],
    outfile: 'dist/korv-call-persisted.cjs',
    plugins: [fsPromisesSync, zlibWhenNeeded, chalkWhenColoured],
  }),
  // A plain call to a target without a persisted connection (src/korv-call-cold-entry.ts): the persisted
  // fast path hands it over with its body read and its TCP connection started. No oclif, no prompts
  // (loaded from node_modules when a key asks for a passphrase); ssh2 apart, as above.
  buildFastPath({
    banner: {js: `${common.banner.js}\nconst __rwNow = () => { const [s, ns] = process.hrtime(); return s * 1e3 + ns / 1e6 };`},
    define: {...common.define, 'performance.now': '__rwNow'},
    entryPoints: ['src/korv-call-cold-entry.ts'],
    external: [...common.external, '@inquirer/*', '@oclif/*'],
    outfile: 'dist/korv-call-cold.cjs',
    plugins: [ssh2ClientApart, fsPromisesSync, zlibWhenNeeded, chalkWhenColoured],
  }),
  buildFastPath({
    outfile: 'dist/ssh2-client.cjs',
    plugins: [ssh2Rewrites([SSH2_NATIVE_BINDING, ...SSH2_CLIENT_LOAD_LESS]), saferBufferIsBuffer, cpuFeaturesFromProc, assertWhenUsed],
    stdin: {
      // The whole of ssh2 (key generation, for a first run's home key) only when asked for.
      contents:
        "module.exports = {client: require('ssh2/lib/client.js'), keyParser: require('ssh2/lib/protocol/keyParser.js'), get index() { return require('ssh2') }}",
      loader: 'js',
      resolveDir: '.',
      sourcefile: 'ssh2-client.js',
    },
  }),
])

// A pure-ASCII file is read several times faster than one that needs UTF-8 decoding, and esbuild leaves
// a few raw characters in regular expressions: escape them (\uXXXX means the same in every JS context).
for (const {outputFiles, wrapped} of results) {
  for (const file of outputFiles) {
    const text = file.text.replace(/[^\0-\x7f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
    await writeFile(file.path, wrapped ? Module.wrap(text) : text)
  }
}
