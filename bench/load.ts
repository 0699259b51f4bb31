// Closed-loop load: C workers, each sending its next request when the previous answer arrives, for a
// warm-up and then a measured window. Only requests that start and complete inside the window count.

/** The request body, {"n": 123, "msg": "hello"}; the server echoes it back. */
export interface EchoBody {
  n: number
  msg: string
}

export type SendEcho = (body: EchoBody) => Promise<unknown>

export interface WindowOptions {
  concurrency: number
  warmupMs: number
  measureMs: number
}

/** Latencies (ms) of the requests measured in one window. */
export interface WindowSamples {
  latencies: number[]
  seconds: number
}

export interface LoadResult {
  concurrency: number
  requests: number
  seconds: number
  rps: number
  p50Ms: number
  p99Ms: number
}

let nextN = 0

export async function runWindow(send: SendEcho, options: WindowOptions): Promise<WindowSamples> {
  const latencies: number[] = []
  const measureFrom = performance.now() + options.warmupMs
  const measureTo = measureFrom + options.measureMs
  const worker = async (): Promise<void> => {
    for (let started = performance.now(); started < measureTo; started = performance.now()) {
      const n = ++nextN
      const answer = (await send({msg: 'hello', n})) as Partial<EchoBody> | null
      const done = performance.now()
      if (answer?.n !== n || answer.msg !== 'hello') throw new Error(`bad echo for n=${n}: ${JSON.stringify(answer)}`)
      if (started >= measureFrom && done <= measureTo) latencies.push(done - started)
    }
  }

  await Promise.all(Array.from({length: options.concurrency}, worker))
  return {latencies, seconds: options.measureMs / 1000}
}

/** Pools the windows of one case (several rounds) into one result. */
export function summarize(concurrency: number, windows: WindowSamples[]): LoadResult {
  const latencies = windows.flatMap((w) => w.latencies).sort((a, b) => a - b)
  const seconds = windows.reduce((sum, w) => sum + w.seconds, 0)
  return {
    concurrency,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    requests: latencies.length,
    rps: latencies.length / seconds,
    seconds,
  }
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export interface RoundsSettings {
  concurrency: number[]
  warmupSeconds: number
  measureSeconds: number
  rounds: number
}

/** Before every round but the first, this much warm-up again (the JIT and the connections are warm already). */
const REWARM_MS = 200

/** One case at each concurrency, in `rounds` windows that take turns through the concurrencies. */
export async function measureInRounds(send: SendEcho, settings: RoundsSettings): Promise<LoadResult[]> {
  const windows = new Map<number, WindowSamples[]>()
  const measureMs = (settings.measureSeconds * 1000) / settings.rounds
  for (let round = 0; round < settings.rounds; round++) {
    for (const concurrency of settings.concurrency) {
      const warmupMs = round === 0 ? settings.warmupSeconds * 1000 : REWARM_MS
      windows.set(concurrency, [...(windows.get(concurrency) ?? []), await runWindow(send, {concurrency, measureMs, warmupMs})])
    }
  }

  return settings.concurrency.map((c) => summarize(c, windows.get(c)!))
}
