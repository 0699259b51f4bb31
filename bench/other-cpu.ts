// How much CPU the rest of the machine took while a case ran. On the shared 2-core VM this, not the
// code, decided most swings between runs of the pipe bench: c=64 loses when other processes take a
// core, and c=1 can even gain then (idle vCPUs wake slowly, so a ping-pong on an idle machine is
// slower). The load average before the run does not tell, so each case reports its own window.
// Linux only (/proc): elsewhere the reading is undefined and nothing is printed.
import {readFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'

/** utime + stime of one process, in clock ticks (USER_HZ, like /proc/stat). */
function processTicks(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/** Busy ticks of the whole machine (user, nice, system, irq, softirq; not idle, iowait or steal). */
function machineTicks(): number {
  const fields = readFileSync('/proc/stat', 'utf8').slice(0, 200).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  return fields[0]! + fields[1]! + fields[2]! + fields[5]! + fields[6]!
}

function ticksOf(pids: number[]): number {
  return machineTicks() - processTicks('self') - pids.reduce((sum, pid) => sum + processTicks(pid), 0)
}

/**
 * Starts a window; the function it returns ends it and gives the cores (0..availableParallelism) that
 * processes other than this one and `pids` used on average, or undefined without /proc. The pids must
 * still run when the window ends.
 */
export function watchOtherCpu(pids: number[]): () => number | undefined {
  let before: number
  try {
    before = ticksOf(pids)
  } catch {
    return () => undefined
  }

  const started = performance.now()
  return () => {
    try {
      const seconds = (performance.now() - started) / 1000
      return Math.max(0, (ticksOf(pids) - before) / 100 / seconds)
    } catch {
      return undefined
    }
  }
}

/** One stderr line per case, so that two runs can be compared knowing what else ran. */
export function reportOtherCpu(label: string, cores: number | undefined): void {
  if (cores === undefined) return
  const busy = cores >= 0.25 ? ': figures skewed (c=64 loses, c=1 may gain)' : ''
  process.stderr.write(`bench: ${label}: other processes used ${cores.toFixed(2)} of ${availableParallelism()} cores${busy}\n`)
}
