// What the chaos harness reads from /proc: this process's descriptors, and every process that
// carries a run's environment tag (inherited by every descendant, setsid escapees included).
import { readdirSync, readFileSync, readlinkSync } from "node:fs"

/** The variable every process of a run inherits (set in the root before its tree is built). */
export const TAG_VAR = "TROUPE_CHAOS_TAG"

export interface FdCount {
  readonly total: number
  readonly pidfds: number
  /** target → count, for a readable leak report. */
  readonly byKind: Record<string, number>
}

const kindOf = (target: string): string => {
  if (target.startsWith("socket:")) return "socket"
  if (target.startsWith("pipe:")) return "pipe"
  if (target.startsWith("anon_inode:")) return target
  if (target.startsWith("/dev/")) return target
  return "file"
}

/** Open descriptors of this process (`/proc/self/fd`), with pidfds counted apart. */
export const countFds = (): FdCount => {
  const byKind: Record<string, number> = {}
  let total = 0
  let pidfds = 0
  for (const fd of readdirSync("/proc/self/fd")) {
    let target: string
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      continue // the readdir's own descriptor, closed already
    }
    total++
    if (target === "anon_inode:[pidfd]") pidfds++
    const k = kindOf(target)
    byKind[k] = (byKind[k] ?? 0) + 1
  }
  return { total, pidfds, byKind }
}

/** Alive = exists and not a zombie (a zombie holds nothing and is its parent's to reap). */
const stateOf = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
  } catch {
    return undefined
  }
}

export interface Tagged {
  readonly pid: number
  readonly state: string
  readonly command: string
}

/** Every live (non-zombie) process whose environment has `TAG_VAR=tag` (`prefix`: a tag starting with `tag`). */
export const taggedProcesses = (tag: string, prefix = false): Array<Tagged> => {
  const needle = `\0${TAG_VAR}=${tag}${prefix ? "" : "\0"}`
  const out: Array<Tagged> = []
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    let env: string
    try {
      env = `\0${readFileSync(`/proc/${pid}/environ`, "latin1")}`
    } catch {
      continue // gone, or another user's
    }
    if (!env.includes(needle)) continue
    const state = stateOf(pid)
    if (state === undefined || state === "Z" || state === "X") continue
    let command = "?"
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim().slice(0, 160)
    } catch {
      // gone meanwhile
    }
    out.push({ pid, state, command })
  }
  return out
}

/** SIGKILL what a failed run left, so the next run starts clean (a tagged process is ours). */
export const killAll = (procs: ReadonlyArray<Tagged>): void => {
  for (const p of procs) {
    try {
      process.kill(p.pid, "SIGCONT")
      process.kill(p.pid, "SIGKILL")
    } catch {
      // gone
    }
  }
}

/** The 1-minute load average. */
export const loadAverage = (): number => {
  try {
    return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0])
  } catch {
    return Number.NaN
  }
}
