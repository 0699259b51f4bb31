// The tools from outside npm that tests talk to, each with the Debian package that provides it: the one
// list that test/helpers/tools.ts (skip when missing) and scripts/peers.mjs (`npm run test:peers`,
// install when missing) both read. Plain JavaScript so that it runs before `npm ci` (.ci/run).
import {spawnSync} from 'node:child_process'
import {accessSync, constants} from 'node:fs'
import {delimiter, join} from 'node:path'

/**
 * name → {pkg, uses, command?, dirs?, probe?}. `command` is the executable to look for (default: the
 * name); `dirs` are searched after PATH (sbin is not on a Debian user's PATH); `probe` are arguments the
 * found executable must accept with exit 0 (a Python module), trying each one on PATH in turn.
 */
export const TOOLS = {
  awk: {pkg: 'mawk', uses: 'the bash completion script reading target names'},
  bash: {pkg: 'bash', uses: 'the bash completion script'},
  chromium: {pkg: 'chromium', uses: 'the inspector page in a real browser, headless, driven by playwright-core'},
  curl: {pkg: 'curl', uses: 'an HTTP client against the tunnel and pipe gateways'},
  gzip: {pkg: 'gzip', uses: 'the docs examples that compress a korv body'},
  gunzip: {pkg: 'gzip', uses: 'the docs examples that compress a korv body'},
  haproxy: {pkg: 'haproxy', uses: 'a TCP load balancer in front of two korv servers', dirs: ['/usr/sbin', '/sbin']},
  ip: {pkg: 'iproute2', uses: 'the docs test, bringing up loopback in its private network namespace'},
  'nats-server': {pkg: 'nats-server', uses: 'the NATS server the pipe cluster tests start', dirs: ['/usr/sbin']},
  openssl: {pkg: 'openssl', uses: 'test PKIs, and reading the certificates keys ca / keys cert write'},
  python3: {pkg: 'python3', uses: 'the pseudo-terminal driver test/fixtures/tty-driver.py'},
  'python3-asyncssh': {
    pkg: 'python3-asyncssh',
    uses: 'the Korv 0.2 and rrssh Python peers in test/fixtures/',
    command: 'python3',
    probe: ['-c', 'import asyncssh'],
  },
  script: {pkg: 'bsdutils', uses: 'the docs test, giving every documented command a pseudo-terminal'},
  socat: {pkg: 'socat', uses: 'a raw client for the relay'},
  ssh: {pkg: 'openssh-client', uses: 'the OpenSSH client against the korv server'},
  'ssh-add': {pkg: 'openssh-client', uses: 'loading keys into ssh-agent'},
  'ssh-agent': {pkg: 'openssh-client', uses: 'signing with an agent-held key'},
  'ssh-keygen': {pkg: 'openssh-client', uses: 'keys made and read by OpenSSH'},
  setpriv: {pkg: 'util-linux', uses: 'running the installed package as nobody when the tests run as root'},
  sshd: {pkg: 'openssh-server', uses: 'the OpenSSH server', dirs: ['/usr/sbin', '/sbin']},
  unshare: {pkg: 'util-linux', uses: 'the docs test, running each page in a private network and PID namespace'},
  zsh: {pkg: 'zsh', uses: 'the zsh completion script'},
}

/** `apt-get install` for these packages, as root. */
export function aptInstallCommand(packages) {
  return `apt-get install -y ${[...new Set(packages)].sort().join(' ')}`
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The absolute path of tool `name` (a key of TOOLS) on PATH, or undefined when it is not there. */
export function findTool(name, env = process.env) {
  const tool = TOOLS[name]
  if (!tool) throw new Error(`unknown tool ${name}: add it to scripts/peer-tools.mjs`)
  const command = tool.command ?? name
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...(tool.dirs ?? [])]
  for (const dir of dirs) {
    const path = join(dir, command)
    if (!executable(path)) continue
    if (!tool.probe) return path
    const probe = spawnSync(path, tool.probe, {env, stdio: 'ignore', timeout: 30_000})
    if (probe.status === 0) return path
  }

  return undefined
}
