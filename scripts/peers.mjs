// `npm run test:peers [TOOL...]`: installs the Debian packages of the test peers this machine lacks
// (scripts/peer-tools.mjs), all of them or the named ones. As root with apt-get it installs them;
// otherwise it prints the command to run. Runs before `npm ci` (node:* only).
import {spawnSync} from 'node:child_process'
import {TOOLS, aptInstallCommand, findTool} from './peer-tools.mjs'

const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(TOOLS)
const unknown = names.filter((name) => !TOOLS[name])
if (unknown.length > 0) {
  console.error(`test:peers: unknown tool ${unknown.join(', ')}; known: ${Object.keys(TOOLS).join(', ')}`)
  process.exit(2)
}

const missingNow = () => names.filter((name) => !findTool(name))
const missing = missingNow()
if (missing.length === 0) {
  console.log(`test:peers: all present (${names.join(', ')})`)
  process.exit(0)
}

const packages = [...new Set(missing.map((name) => TOOLS[name].pkg))].sort()
const command = aptInstallCommand(packages)
const canInstall = process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], {stdio: 'ignore'}).status === 0
console.log(`test:peers: missing ${missing.join(', ')} (Debian ${packages.join(' ')})`)
if (!canInstall) {
  // Not an error: the tests that need them skip, and npm test's last line names them.
  console.log(`test:peers: run as root: apt-get update && ${command}`)
  process.exit(0)
}

const apt = (args) => {
  console.log(`test:peers: apt-get ${args.join(' ')}`)
  const result = spawnSync('apt-get', args, {env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'}, stdio: ['ignore', 'ignore', 'inherit']})
  if (result.status !== 0) {
    console.error(`test:peers: apt-get ${args[0]} failed (exit ${result.status ?? result.signal})`)
    process.exit(1)
  }
}

apt(['update', '-qq'])
apt(['install', '-y', '-qq', ...packages])
const still = missingNow()
if (still.length > 0) {
  console.error(`test:peers: still missing after the install: ${still.join(', ')}`)
  process.exit(1)
}

console.log(`test:peers: installed ${packages.join(' ')}`)
