// Bench cases that run after the built-in ones and print their own section: each is one entry in
// EXTRA_CASES (run.ts), selected by its name in BENCH_ONLY like the others.
import type {KorvKeys} from '../test/helpers/korv-fixture.js'
import type {Measurements} from './report.js'

export interface CaseSettings {
  concurrency: number[]
  warmupSeconds: number
  measureSeconds: number
  rounds: number
  profDir?: string
}

export interface CaseContext {
  settings: CaseSettings
  /** The bench's temp dir (removed at the end). */
  dir: string
  keys: KorvKeys
  /** What the built-in cases measured in this run, for ratios against them. */
  measurements: Measurements
}

export interface CaseReport {
  /** Added to the summary's ratios. */
  ratios: Record<string, number>
  /** The case's own entry in the JSON summary. */
  summary: unknown
}

export interface BenchCase {
  name: string
  /** Prints its section; undefined when it could not run here (it says why on stderr). */
  run(ctx: CaseContext): Promise<CaseReport | undefined>
}
