// Scrapes a server's /metrics and reads it with a real Prometheus text-format parser; health checks.
import assert from 'node:assert/strict'
import parsePrometheusTextFormat, {type PrometheusFamily} from 'parse-prometheus-text-format'

export class Scrape {
  readonly families: PrometheusFamily[]

  constructor(readonly text: string) {
    this.families = parsePrometheusTextFormat(text)
  }

  /**
   * The cumulative buckets of one histogram series. The parser folds the buckets of all of a histogram's
   * label sets into one (it keeps only `le`), so the series' own lines are parsed on their own.
   */
  buckets(name: string, labels: Record<string, string>): Record<string, number> {
    const pairs = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
    const lines = this.text.split('\n').filter((line) => line.startsWith(`# HELP ${name} `) || line.startsWith(`# TYPE ${name} `) || (line.startsWith(`${name}_bucket{`) && pairs.every((pair) => line.includes(pair))))
    const [family] = parsePrometheusTextFormat(lines.join('\n') + '\n')
    assert.equal(family?.type, 'HISTOGRAM')
    return Object.fromEntries(Object.entries(family.metrics[0]?.buckets ?? {}).map(([le, count]) => [le, Number(count)]))
  }

  family(name: string): PrometheusFamily | undefined {
    return this.families.find((family) => family.name === name)
  }

  /** The sum of the samples of `name` whose labels include `labels` (0 when none). */
  value(name: string, labels: Record<string, string> = {}): number {
    const family = this.family(name)
    if (!family) return 0
    return family.metrics
      .filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value))
      .reduce((sum, sample) => sum + Number(sample.value ?? sample.count ?? 0), 0)
  }
}

export async function scrape(base: string): Promise<Scrape> {
  const response = await fetch(`${base}/metrics`, {signal: AbortSignal.timeout(10_000)})
  assert.equal(response.status, 200)
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return new Scrape(await response.text())
}

export async function health(base: string, path: '/healthz' | '/readyz'): Promise<{status: number; text: string}> {
  const response = await fetch(`${base}${path}`, {signal: AbortSignal.timeout(10_000)})
  return {status: response.status, text: await response.text()}
}

/** Polls until `check` passes or `timeoutMs` runs out (then fails with its last error). */
export async function eventually(check: () => Promise<void>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await check()
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}
