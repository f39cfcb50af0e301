/**
 * Live descendants of a process, read from `/proc` (Linux). A zombie (exited, not yet reaped)
 * counts as dead: it holds no resources but its pid. Used for the summary's "processes left".
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"

interface ProcEntry {
  readonly pid: number
  readonly ppid: number
  readonly state: string
  readonly comm: string
}

/** `/proc/<pid>/stat`: `pid (comm) state ppid ...`; comm may contain spaces and parentheses. */
export const readStat = (pid: number): ProcEntry | undefined => {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  const close = text.lastIndexOf(")")
  const open = text.indexOf("(")
  if (close < 0 || open < 0) return undefined
  const rest = text.slice(close + 2).split(" ")
  return { pid, comm: text.slice(open + 1, close), state: rest[0] ?? "?", ppid: Number(rest[1]) }
}

/** The argv of `pid`, or `[]` when it is gone. */
export const cmdline = (pid: number): ReadonlyArray<string> => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a.length > 0)
  } catch {
    return []
  }
}

/**
 * esbuild's long-lived service process (`esbuild --service=<version> --ping`), started by the
 * TypeScript loader (tsx) and by the runtime's child bundler. It belongs to the tooling, lives
 * exactly as long as this process, and is not something troupe spawned; the summary lists it
 * apart from the processes left.
 */
export const isEsbuildService = (pid: number): boolean => {
  const argv = cmdline(pid)
  return (argv[0] ?? "").endsWith("esbuild") && argv.some((a) => a.startsWith("--service="))
}

/**
 * CPU time (user + system) `pid` has used so far, in ms (`/proc/<pid>/stat`, 100 ticks/s); 0 when
 * gone. A thread of this process (a worker actor's pid is its thread id) is read from
 * `/proc/self/task/<tid>/stat`: `/proc/<tid>/stat` would count the whole process.
 */
export const cpuMs = (pid: number): number => {
  try {
    const own = pid !== process.pid && existsSync(`/proc/self/task/${pid}`)
    const text = readFileSync(own ? `/proc/self/task/${pid}/stat` : `/proc/${pid}/stat`, "utf8")
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ")
    // Fields 14 and 15 (utime, stime), counted from 3 (state) = index 0 here.
    return (Number(rest[11]) + Number(rest[12])) * 10
  } catch {
    return 0
  }
}

/** Threads of this process among `tids` that still run (worker actors left). */
export const liveThreads = (tids: ReadonlyArray<number>): Array<number> =>
  tids.filter((tid) => tid !== process.pid && existsSync(`/proc/self/task/${tid}`))

/** Is `pid` a live (non-zombie) process? */
export const isAlive = (pid: number): boolean => {
  const s = readStat(pid)
  return s !== undefined && s.state !== "Z" && s.state !== "X"
}

/** Every live (non-zombie) descendant of `root`, at any depth. */
export const liveDescendants = (root: number = process.pid): ReadonlyArray<{ readonly pid: number; readonly comm: string }> => {
  const children = new Map<number, Array<ProcEntry>>()
  let names: Array<string>
  try {
    names = readdirSync("/proc")
  } catch {
    return []
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    const s = readStat(Number(name))
    if (s === undefined) continue
    const list = children.get(s.ppid)
    if (list === undefined) children.set(s.ppid, [s])
    else list.push(s)
  }
  const out: Array<{ pid: number; comm: string }> = []
  const todo = [root]
  const seen = new Set<number>()
  while (todo.length > 0) {
    const p = todo.pop()!
    for (const c of children.get(p) ?? []) {
      if (seen.has(c.pid)) continue
      seen.add(c.pid)
      if (c.state !== "Z" && c.state !== "X") out.push({ pid: c.pid, comm: c.comm })
      todo.push(c.pid)
    }
  }
  return out
}
