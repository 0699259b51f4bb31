// Types for peer-tools.mjs (plain JavaScript so that `npm run test:peers` runs before `npm ci`).
export interface PeerTool {
  /** The Debian package that provides it. */
  pkg: string
  /** What the tests use it for. */
  uses: string
  command?: string
  dirs?: string[]
  probe?: string[]
}

export declare const TOOLS: Record<string, PeerTool>
export declare function aptInstallCommand(packages: string[]): string
export declare function findTool(name: string, env?: NodeJS.ProcessEnv): string | undefined
