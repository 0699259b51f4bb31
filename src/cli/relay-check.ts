// `relay check` glue: validate a relay config and list its requests (a table on a terminal, JSON lines
// when piped, one document with --json). Secrets are checked for presence, never shown.
import {type RelayTemplate, maskUrlPassword} from '../core/relay/config.js'
import {loadRelayConfig} from '../core/relay/load-config.js'
import chalk from 'chalk'
import {stderrColors as c, stdoutIsTty, writeStdout} from './output.js'

export interface RelayCheckOptions {
  configPath: string
  json: boolean
}

export interface RelayRequestSummary {
  name: string
  method: string
  url: string
  placeholders: string[]
  expect: number[]
  body: 'json' | 'form'
  auth: 'basic' | 'bearer' | null
  timeoutMs: number
  retries: number
  redirects: number
  ca: string | null
  maxResponseBytes: number
}

export interface RelayCheckResult {
  config: string
  requests: RelayRequestSummary[]
}

export async function runRelayCheck(options: RelayCheckOptions): Promise<RelayCheckResult | undefined> {
  const config = await loadRelayConfig(options.configPath)
  const requests = [...config.requests.values()].map(summarize)
  if (options.json) return {config: options.configPath, requests}
  if (stdoutIsTty()) {
    writeStdout(table(requests))
    process.stderr.write(c.green(`${options.configPath}: ${requests.length} requests, valid\n`))
  } else {
    for (const request of requests) writeStdout(JSON.stringify(request))
  }

  return undefined
}

function summarize(template: RelayTemplate): RelayRequestSummary {
  return {
    auth: template.auth ?? null,
    body: template.encoding,
    ca: template.ca?.path ?? null,
    expect: [...template.expect],
    maxResponseBytes: template.maxResponseBytes,
    method: template.method,
    name: template.name,
    placeholders: [...template.placeholders],
    redirects: template.redirects,
    retries: template.retries,
    timeoutMs: template.timeoutMs,
    // A password written in the URL is never shown (table, JSON lines, --json alike).
    url: maskUrlPassword(template.url),
  }
}

function table(requests: RelayRequestSummary[]): string {
  const rows = [
    ['NAME', 'METHOD', 'URL', 'EXPECT', 'AUTH', 'TIMEOUT', 'RETRIES'],
    ...requests.map((r) => [r.name, r.method, r.url, r.expect.join(','), r.auth ?? '-', `${r.timeoutMs / 1000}s`, String(r.retries)]),
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows
    .map((row, index) => {
      const text = row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()
      return index === 0 ? chalk.bold(text) : text
    })
    .join('\n')
}
