/**
 * Reading `/proc` (proc(5)): process state, process groups, and which processes hold a given
 * pipe/socket inode. Synchronous on purpose: every read is a few hundred bytes from procfs,
 * which never blocks on I/O, and a scan must be a consistent snapshot.
 *
 * @internal
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs"

export interface ProcStat {
  readonly pid: number
  readonly comm: string
  /** One of R S D Z T t W X I (proc(5)); Z and X mean the process has exited. */
  readonly state: string
  readonly ppid: number
  readonly pgrp: number
  readonly session: number
  /** Start time in clock ticks after boot: with `pid` it names one process across PID reuse. */
  readonly startTime: number
}

/** Parse `/proc/<pid>/stat`. `comm` may hold spaces and parentheses: split at the last ')'. */
export const parseStat = (pid: number, text: string): ProcStat | undefined => {
  const open = text.indexOf("(")
  const close = text.lastIndexOf(")")
  if (open < 0 || close < 0) return undefined
  const rest = text.slice(close + 2).split(" ")
  // rest[0] is field 3 (state); field N is rest[N - 3].
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0]!,
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    startTime: Number(rest[19])
  }
}

export const readStat = (pid: number): ProcStat | undefined => {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return undefined
  }
}

/**
 * `isAlive` that can say "cannot tell": `unknown` when `/proc/<pid>/stat` could not be read for
 * another reason than the process being gone (EMFILE, ENFILE, …) — a caller waiting for an exit
 * must then keep waiting, not take it for one.
 */
export const probe = (pid: number, startTime?: number): "alive" | "gone" | "unknown" => {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === "ENOENT" || code === "ESRCH" ? "gone" : "unknown"
  }
  const stat = parseStat(pid, text)
  if (isExitedState(stat)) return "gone"
  return startTime === undefined || stat!.startTime === startTime ? "alive" : "gone"
}

/** Exited or gone: missing from /proc, or a zombie (Z) / dead (X). */
export const isExitedState = (stat: ProcStat | undefined): boolean =>
  stat === undefined || stat.state === "Z" || stat.state === "X"

/**
 * Alive, and (when `startTime` is given) still the same process: a recycled PID has another
 * start time. `kill(pid, 0)` is not used: it succeeds on a zombie.
 */
export const isAlive = (pid: number, startTime?: number): boolean => {
  const stat = readStat(pid)
  if (isExitedState(stat)) return false
  return startTime === undefined || stat!.startTime === startTime
}

export const listPids = (): Array<number> => {
  const out: Array<number> = []
  for (const name of readdirSync("/proc")) {
    const c = name.charCodeAt(0)
    if (c >= 48 && c <= 57) out.push(Number(name))
  }
  return out
}

/**
 * The children of `pid` (every thread's `/proc/<pid>/task/<tid>/children`, proc(5)): a few small
 * reads instead of a scan of all of /proc. An orphan adopted by a subreaper may be the child of
 * any of its threads. Falls back to a full scan when the kernel lacks CONFIG_PROC_CHILDREN.
 */
export const childrenOf = (pid: number): Array<ProcStat> => {
  let tids: Array<string>
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return []
  }
  const out: Array<ProcStat> = []
  for (const tid of tids) {
    let text: string
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8")
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && tid === String(pid)) {
        return snapshot().filter((s) => s.ppid === pid)
      }
      continue // the thread ended meanwhile
    }
    for (const c of text.split(/\s+/)) {
      if (c === "") continue
      const stat = readStat(Number(c))
      if (stat !== undefined && stat.ppid === pid) out.push(stat)
    }
  }
  return out
}

let cached: { readonly at: number; readonly stats: Array<ProcStat> } | undefined

/**
 * Every process whose state could be read (a snapshot; processes come and go while it runs).
 * `maxAgeMs > 0` may return a snapshot taken that recently, so that many teardowns running at
 * once share one scan of /proc (a scan costs ~7 ms per 200 processes, on the main thread);
 * callers must re-check liveness per pid and confirm an empty result with a fresh scan.
 */
export const snapshot = (maxAgeMs = 0): Array<ProcStat> => {
  const now = performance.now()
  if (maxAgeMs > 0 && cached !== undefined && now - cached.at <= maxAgeMs) return cached.stats
  const out: Array<ProcStat> = []
  for (const pid of listPids()) {
    const stat = readStat(pid)
    if (stat !== undefined) out.push(stat)
  }
  cached = { at: now, stats: out }
  return out
}

/** Live (not exited) members of process group `pgid` in `all`. */
export const groupMembers = (pgid: number, all: ReadonlyArray<ProcStat> = snapshot()): Array<ProcStat> =>
  all.filter((s) => s.pgrp === pgid && !isExitedState(s))

/** Live descendants of `root` (by ppid links in one snapshot), root excluded. */
export const descendants = (root: number, all: ReadonlyArray<ProcStat> = snapshot()): Array<ProcStat> => {
  const byParent = new Map<number, Array<ProcStat>>()
  for (const s of all) {
    const list = byParent.get(s.ppid)
    if (list === undefined) byParent.set(s.ppid, [s])
    else list.push(s)
  }
  const out: Array<ProcStat> = []
  const queue = [root]
  while (queue.length > 0) {
    for (const child of byParent.get(queue.pop()!) ?? []) {
      if (!isExitedState(child)) out.push(child)
      queue.push(child.pid)
    }
  }
  return out
}

/** `pipe:[123]` / `socket:[123]` → 123. */
export const linkInode = (link: string): number | undefined => {
  const m = /^(?:pipe|socket):\[(\d+)\]$/.exec(link)
  return m === null ? undefined : Number(m[1])
}

/** The pipe/socket inode behind `/proc/<pid>/fd/<fd>`, if it is one. */
export const fdInode = (pid: number, fd: number): number | undefined => {
  try {
    return linkInode(readlinkSync(`/proc/${pid}/fd/${fd}`))
  } catch {
    return undefined
  }
}

const O_ACCMODE = 0o3
const O_RDONLY = 0

/**
 * Processes (other than `exclude`) holding one of `inodes` open for writing: an fd whose link
 * is `pipe:[ino]`/`socket:[ino]` and whose `/proc/<pid>/fdinfo/<fd>` flags are O_WRONLY or
 * O_RDWR. Processes we may not inspect (EACCES) are skipped. This is the scan of the orphan
 * pipe-writer fix in `shared/seeds/trinity-pr-620-orphan-pipe-writers.txt`.
 */
export const writersOf = (inodes: ReadonlySet<number>, exclude: ReadonlySet<number>): Array<ProcStat> => {
  if (inodes.size === 0) return []
  const out: Array<ProcStat> = []
  for (const pid of listPids()) {
    if (exclude.has(pid)) continue
    let fds: Array<string>
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      let link: string
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`)
      } catch {
        continue
      }
      const ino = linkInode(link)
      if (ino === undefined || !inodes.has(ino)) continue
      let flags = Number.NaN
      try {
        const m = /^flags:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"))
        if (m !== null) flags = parseInt(m[1]!, 8)
      } catch {
        continue
      }
      if (Number.isNaN(flags) || (flags & O_ACCMODE) === O_RDONLY) continue
      const stat = readStat(pid)
      if (stat !== undefined && !isExitedState(stat)) out.push(stat)
      break
    }
  }
  return out
}

/** The command line of `pid` for reports (`comm` when cmdline is unreadable or empty). */
export const commandLine = (pid: number): string => {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8")
    const cmd = raw.split("\0").filter((s) => s.length > 0).join(" ")
    if (cmd.length > 0) return cmd.length > 200 ? cmd.slice(0, 200) + "…" : cmd
  } catch {
    // fall through
  }
  return readStat(pid)?.comm ?? "?"
}
