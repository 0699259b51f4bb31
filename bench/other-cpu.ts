// How much CPU the rest of the machine took while a case ran. On the shared 2-core VM this, not the
// code, decided most swings between runs of the pipe bench: c=64 loses when other processes take a
// core, and c=1 can even gain then (idle vCPUs wake slowly, so a ping-pong on an idle machine is
// slower). The load average before the run does not tell, so each case reports its own window, with
// the steal time (the VM's host running something else on our vCPUs), which no process here shows.
// Linux only (/proc): elsewhere the reading is undefined and nothing is printed.
import {readFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'

/** utime + stime of one process, in clock ticks (USER_HZ, like /proc/stat). */
function processTicks(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

export interface OtherCpu {
  /** Cores that processes other than the bench's used, on average. */
  others: number
  /** Cores the host took from this VM (steal), on average. */
  steal: number
}

/** Busy ticks of the whole machine (user, nice, system, irq, softirq; not idle, iowait or steal), and steal. */
function machineTicks(): {busy: number; steal: number} {
  const fields = readFileSync('/proc/stat', 'utf8').slice(0, 200).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  return {busy: fields[0]! + fields[1]! + fields[2]! + fields[5]! + fields[6]!, steal: fields[7] ?? 0}
}

function ticksOf(pids: number[]): {others: number; steal: number} {
  const {busy, steal} = machineTicks()
  return {others: busy - processTicks('self') - pids.reduce((sum, pid) => sum + processTicks(pid), 0), steal}
}

/**
 * Starts a window; the function it returns ends it and gives the cores (0..availableParallelism) that
 * processes other than this one and `pids`, and the host, used on average; undefined without /proc.
 * The pids must still run when the window ends.
 */
export function watchOtherCpu(pids: number[]): () => OtherCpu | undefined {
  let before: {others: number; steal: number}
  try {
    before = ticksOf(pids)
  } catch {
    return () => undefined
  }

  const started = performance.now()
  return () => {
    try {
      const seconds = (performance.now() - started) / 1000
      const after = ticksOf(pids)
      return {others: Math.max(0, (after.others - before.others) / 100 / seconds), steal: (after.steal - before.steal) / 100 / seconds}
    } catch {
      return undefined
    }
  }
}

/** One stderr line per case, so that two runs can be compared knowing what else ran. */
export function reportOtherCpu(label: string, cpu: OtherCpu | undefined): void {
  if (cpu === undefined) return
  const busy = cpu.others + cpu.steal >= 0.25 ? ': figures skewed (c=64 loses, c=1 may gain)' : ''
  process.stderr.write(`bench: ${label}: other processes used ${cpu.others.toFixed(2)} of ${availableParallelism()} cores, the host (steal) ${cpu.steal.toFixed(2)}${busy}\n`)
}

/**
 * Waits, up to `maxMs`, for a 250 ms window in which other processes and the host took under 0.1 of a
 * core: a start-up measure (tens of ms per run, a median of few runs) is moved by what the bench's
 * previous section left running (children exiting, nats-server, the kernel freeing their memory).
 * Gives the last window's reading.
 */
export async function settleMachine(maxMs = 10_000): Promise<OtherCpu | undefined> {
  const until = performance.now() + maxMs
  for (;;) {
    const window = watchOtherCpu([])
    await new Promise((resolve) => setTimeout(resolve, 250))
    const cpu = window()
    if (cpu === undefined || cpu.others + cpu.steal < 0.1 || performance.now() >= until) return cpu
  }
}
