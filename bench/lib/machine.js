// How much of the machine's CPU went to processes other than the benchmark's own, from /proc (Linux).
// A benchmark on a small machine is only as good as its quiet: figures taken while something else used the
// CPUs should be flagged, not reported.
//
//   const meter = loadMeter({ pids: [process.pid], groups: [mock.pid, proxy.pid] })
//   ... run ...
//   meter.stop()  // { busy: 0.71, ours: 0.69, others: 0.02 } as fractions of all CPUs' time
import { readdirSync, readFileSync } from 'node:fs'

/** Machine-wide busy and total CPU time, in clock ticks; null where /proc/stat is unavailable. */
function machineTicks() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
    const fields = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0)
    return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total }
  } catch {
    return null
  }
}

/**
 * CPU ticks (user + system) of the processes with one of `pids`, or in one of the process groups `groups`,
 * with those of the children they have waited for (so a worker that exits during a measurement still counts).
 * @param {Set<number>} pids
 * @param {Set<number>} groups
 */
function ourTicks(pids, groups) {
  let ticks = 0
  let entries = []
  try {
    entries = readdirSync('/proc')
  } catch {
    return 0
  }
  for (const entry of entries) {
    const c = entry.charCodeAt(0)
    if (c < 48 || c > 57) continue
    let stat
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited meanwhile
    }
    // Fields after the command name (which may contain spaces): state ppid pgrp ... utime(14) stime(15)
    // cutime(16) cstime(17).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const pid = Number(entry)
    const pgrp = Number(rest[2])
    if (pids.has(pid) || groups.has(pgrp))
      ticks += Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])
  }
  return ticks
}

/**
 * Starts measuring; stop() returns fractions of all CPUs' time over the interval: busy (everything), ours
 * (the given processes and groups) and others (the rest), or null where /proc is unavailable.
 * @param {{ pids?: number[], groups?: number[] }} ours
 */
export function loadMeter(ours) {
  const pids = new Set(ours.pids ?? [process.pid])
  const groups = new Set(ours.groups ?? [])
  const a = machineTicks()
  const oursA = ourTicks(pids, groups)
  return {
    stop() {
      const b = machineTicks()
      if (!a || !b || b.total === a.total) return null
      const total = b.total - a.total
      const busy = (b.busy - a.busy) / total
      const mine = Math.min(busy, (ourTicks(pids, groups) - oursA) / total)
      return { busy, ours: mine, others: Math.max(0, busy - mine) }
    },
  }
}
