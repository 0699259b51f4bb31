// The machine a doc page runs on: a private user, network, mount and PID namespace (unshare), where the
// documented default ports are free, the quick starts' host names (hub.example.com, web.example.com)
// resolve to 127.0.0.1, /srv/files holds the file the pipe quick start fetches, and nothing a page
// started outlives the runner. Where the kernel refuses namespaces, pages run on the machine itself.
import {spawnSync} from 'node:child_process'

/** Set inside the namespace, so that the runner knows the example hosts and /srv/files exist. */
export const ISOLATED_ENV = 'RW_DOCS_ISOLATED'

const SETUP = [
  'set -e',
  'ip link set lo up',
  'mount -t tmpfs tmpfs /srv',
  "printf '%s\\n' '127.0.0.1 localhost hub.example.com web.example.com' '::1 localhost' > /srv/.hosts",
  'mount --bind /srv/.hosts /etc/hosts',
  'mkdir -p /srv/files/reports',
  "printf '%%PDF-1.4\\n%% the quarterly report\\n' > /srv/files/reports/q3.pdf",
  `export ${ISOLATED_ENV}=1`,
  'exec "$@"',
].join('\n')

const PREFIX = ['unshare', '--user', '--map-root-user', '--net', '--mount', '--pid', '--fork', '--kill-child', 'sh', '-c', SETUP, 'sh']

/** argv that runs `command` inside a fresh namespace. */
export function inNamespace(command: string[]): string[] {
  return [...PREFIX, ...command]
}

/** Undefined when namespaces work here, else why not. */
export function namespaceUnavailable(): string | undefined {
  const probe = spawnSync(PREFIX[0]!, [...PREFIX.slice(1), 'true'], {encoding: 'utf8', timeout: 10_000})
  if (probe.status === 0) return undefined
  return (probe.stderr || String(probe.error ?? '')).trim().split('\n')[0] || 'unshare failed'
}
