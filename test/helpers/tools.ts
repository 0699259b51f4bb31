// Tools from outside npm (socat, openssl, OpenSSH, asyncssh...): every test that needs one asks here.
// Missing → the suite or test is skipped with one loud line naming the tool, its Debian package and the
// command that installs it; scripts/test.mjs counts these skips by their reason's `missing tool` prefix.
import type {TestContext} from 'node:test'
import {TOOLS, aptInstallCommand, findTool} from '../../scripts/peer-tools.mjs'

const paths = new Map<string, string | undefined>()
const announced = new Set<string>()

/** The tool's absolute path, or undefined when this machine lacks it (looked up once per process). */
export function toolPath(name: string): string | undefined {
  if (!paths.has(name)) paths.set(name, findTool(name))
  return paths.get(name)
}

/** The tool's path, for code that runs only after skipWithout() let it: a missing tool here is a bug. */
export function tool(name: string): string {
  const path = toolPath(name)
  if (!path) throw new Error(`${name} is missing: guard this test with skipWithout('${name}')`)
  return path
}

/** The skip reason naming the missing ones among `names`, or undefined when all are present. */
export function missingToolsReason(...names: string[]): string | undefined {
  const missing = names.filter((name) => !toolPath(name))
  if (missing.length === 0) return undefined
  for (const name of missing) {
    if (announced.has(name)) continue
    announced.add(name)
    const {pkg, uses} = TOOLS[name]!
    console.warn(`\n*** SKIPPED, no ${name} (${uses}): Debian package ${pkg}, install with \`${aptInstallCommand([pkg])}\` as root, or \`npm run test:peers\` ***\n`)
  }

  const packages = missing.map((name) => TOOLS[name]!.pkg)
  const plural = missing.length > 1 ? 's' : ''
  return `missing tool${plural}: ${missing.join(', ')} (Debian package${plural} ${[...new Set(packages)].join(', ')}: ${aptInstallCommand(packages)}, or npm run test:peers)`
}

/** For a describe() or it() options object: `{skip: skipWithout('socat')}`. */
export function skipWithout(...names: string[]): string | false {
  return missingToolsReason(...names) ?? false
}

/** Inside a test: `if (skipTestWithout(t, 'zsh')) return`. */
export function skipTestWithout(t: TestContext, ...names: string[]): boolean {
  const reason = missingToolsReason(...names)
  if (reason) t.skip(reason)
  return reason !== undefined
}
