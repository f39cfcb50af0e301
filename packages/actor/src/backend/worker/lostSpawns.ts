/**
 * Processes a terminated worker started but never reported. A worker reports each process it
 * starts right after the spawn (`worker-entry.mjs`); terminated between the spawn and that
 * report, it leaves a live process nobody knows — a child of this process (its thread is gone)
 * that only the parent-death handling it may not have would end. So the worker also posts
 * `spawning` (the argv, the wall-clock time) before each spawn; once it has exited, every spawn
 * it announced and never reported is looked for among this process's children: same argv,
 * started at or after the announcement, and not a process anyone in this process knows
 * (`ChildRegistry`, the actors' children, the worker's own reports).
 *
 * @internal
 */
import { readFileSync } from "node:fs"
import { type ProcStat, snapshot } from "@troupe/process/ProcessTable"

export interface PendingSpawn {
  readonly argv: ReadonlyArray<string>
  /** `Date.now()` in the worker just before the spawn (ms). */
  readonly at: number
}

/** Clock ticks per second of `/proc/<pid>/stat` start times (USER_HZ: 100 on Linux). */
const ticksPerSecond = 100

const argvOf = (pid: number): Array<string> | undefined => {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8")
    return raw.length === 0 ? undefined : raw.replace(/\0$/, "").split("\0")
  } catch {
    return undefined
  }
}

/** Seconds since boot, now (`/proc/uptime`), or `undefined` without procfs. */
const uptimeSeconds = (): number | undefined => {
  try {
    return Number(readFileSync("/proc/uptime", "utf8").split(" ")[0])
  } catch {
    return undefined
  }
}

const sameArgv = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean =>
  a.length === b.length && a.every((s, i) => s === b[i])

/**
 * The live children of this process that match a pending spawn (each matched at most once,
 * oldest first) and that `known` does not claim.
 */
export const find = (pending: ReadonlyArray<PendingSpawn>, known: (pid: number) => boolean): Array<ProcStat> => {
  if (pending.length === 0) return []
  const uptime = uptimeSeconds()
  if (uptime === undefined) return []
  const nowMs = Date.now()
  const candidates = snapshot().filter((s) => s.ppid === process.pid && s.state !== "Z" && s.state !== "X" && !known(s.pid))
    .sort((a, b) => a.startTime - b.startTime)
  const found: Array<ProcStat> = []
  for (const p of pending) {
    // The announcement's time in start-time ticks, less 2 ticks for rounding.
    const notBefore = (uptime - (nowMs - p.at) / 1000) * ticksPerSecond - 2
    const match = candidates.find((s) =>
      !found.includes(s) && s.startTime >= notBefore && sameArgv(argvOf(s.pid) ?? [], p.argv)
    )
    if (match !== undefined) found.push(match)
  }
  return found
}
