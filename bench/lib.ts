/**
 * Shared helpers for the bench modules: statistics, liveness by /proc (a zombie counts as dead;
 * `kill(pid, 0)` is never used: it succeeds on a zombie), leftover scans by an environment
 * marker, and the one-line JSON protocol `run.mjs` reads (`BENCH_JSON <json>` on stdout).
 */
import { readdirSync, readFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { setTimeout as sleepMs } from "node:timers/promises"

export { sleepMs }

/** `--quick` on the command line. */
export const quick: boolean = process.argv.includes("--quick")

export const now = (): number => performance.now()

/** The q-quantile (0..1) by linear interpolation on the sorted samples; NaN when empty. */
export const quantile = (samples: ReadonlyArray<number>, q: number): number => {
  if (samples.length === 0) return Number.NaN
  const s = [...samples].sort((a, b) => a - b)
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo)
}

export interface Summary {
  readonly n: number
  readonly median: number
  readonly p90: number
  readonly min: number
  readonly max: number
}

export const summarize = (samples: ReadonlyArray<number>): Summary => ({
  n: samples.length,
  median: quantile(samples, 0.5),
  p90: quantile(samples, 0.9),
  min: samples.length === 0 ? Number.NaN : Math.min(...samples),
  max: samples.length === 0 ? Number.NaN : Math.max(...samples)
})

/** State letter from /proc/<pid>/stat (R S D Z T X …), undefined when the pid is gone. */
export const procState = (pid: number): string | undefined => {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  return text.slice(text.lastIndexOf(")") + 2).split(" ")[0]
}

/** Dead: gone from /proc, or a zombie / dead entry its parent has not reaped yet. */
export const isDead = (pid: number): boolean => {
  const s = procState(pid)
  return s === undefined || s === "Z" || s === "X"
}

/** Live (not Z/X) processes whose initial environment holds `name=value` (this process excluded). */
export const markedProcesses = (name: string, value: string): Array<number> => {
  const needle = `${name}=${value}`
  const out: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    let env: string
    try {
      env = readFileSync(`/proc/${entry}/environ`, "utf8")
    } catch {
      continue
    }
    if (env.split("\0").includes(needle) && !isDead(Number(entry))) out.push(Number(entry))
  }
  return out
}

/** Pids in a file the fixtures append `$$` / `$!` to (empty when missing). */
export const readPids = (file: string): Array<number> => {
  try {
    return readFileSync(file, "utf8").split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number)
  } catch {
    return []
  }
}

/** SIGKILL each pid (and its group, when it leads one); errors (already gone) are ignored. */
export const killAll = (pids: Iterable<number>): void => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone meanwhile
    }
  }
}

/** Poll (every 10 ms) until every pid is dead or `ms` passed; returns the live ones. */
export const awaitDead = async (pids: ReadonlyArray<number>, ms: number): Promise<Array<number>> => {
  const deadline = now() + ms
  while (pids.some((p) => !isDead(p)) && now() < deadline) await sleepMs(10)
  return pids.filter((p) => !isDead(p))
}

/** `undefined` if `p` did not settle within `ms` (the promise is left running). */
export const within = <A>(p: Promise<A>, ms: number): Promise<{ readonly value: A } | undefined> => {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  return Promise.race([p.then((value) => ({ value })), bound]).finally(() => clearTimeout(timer))
}

/** Write the module's result for run.mjs (the only line it parses), then exit. Never resolves. */
export const emit = (result: unknown): Promise<never> =>
  new Promise<never>(() => {
    // process.exit once written: a stuck handle (a hung executor's finalizer) must not keep us alive.
    process.stdout.write(`BENCH_JSON ${JSON.stringify(result)}\n`, () => process.exit(0))
  })

export const round = (x: number, digits = 1): number => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** `/proc/<pid>/cmdline` as one line (empty when gone). */
export const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s.length > 0).join(" ")
  } catch {
    return ""
  }
}

/** Live (not Z/X) descendants of `root` by the parent links in /proc/<pid>/stat. */
export const descendants = (root: number = process.pid): Array<number> => {
  const children = new Map<number, Array<number>>()
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    let text: string
    try {
      text = readFileSync(`/proc/${entry}/stat`, "utf8")
    } catch {
      continue
    }
    const ppid = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1])
    const list = children.get(ppid) ?? []
    list.push(Number(entry))
    children.set(ppid, list)
  }
  const out: Array<number> = []
  const todo = [...(children.get(root) ?? [])]
  while (todo.length > 0) {
    const p = todo.pop()!
    if (!isDead(p)) out.push(p)
    todo.push(...(children.get(p) ?? []))
  }
  return out
}

/** tsx's esbuild transform service: a direct child of this process running `esbuild --service`. */
const isTsxService = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
    return ppid === process.pid && /\/esbuild --service=/.test(cmdline(pid))
  } catch {
    return false
  }
}

/**
 * The end-of-module check of the actor benches: every live descendant of this process, and every
 * live process carrying this module's marker (`BENCH_MODULE`, inherited by everything it started,
 * so reparented escapees too), is reported on stderr with its command line, SIGKILLed (with its
 * process group) and awaited. Returns what was found (the module puts it in its JSON: must be []).
 */
export const reapLeftovers = async (label: string): Promise<Array<{ pid: number; cmd: string }>> => {
  const mark = process.env["BENCH_MODULE"]
  const pids = new Set([...descendants(), ...(mark === undefined ? [] : markedProcesses("BENCH_MODULE", mark))])
  // tsx's own esbuild transform service is a child of this process and ends with it: not a leftover.
  for (const pid of pids) if (isTsxService(pid)) pids.delete(pid)
  const found = [...pids].map((pid) => ({ pid, cmd: cmdline(pid).slice(0, 200) }))
  if (found.length > 0) {
    process.stderr.write(`\n!!! bench ${label}: ${found.length} process(es) left behind — killing them:\n`)
    for (const f of found) process.stderr.write(`!!!   ${f.pid} ${f.cmd}\n`)
    for (const { pid } of found) {
      try {
        process.kill(-pid, "SIGKILL")
      } catch {
        // not a group leader
      }
    }
    killAll(pids)
    const still = await awaitDead([...pids], 3000)
    if (still.length > 0) process.stderr.write(`!!! bench ${label}: still alive after SIGKILL: ${still.join(", ")}\n`)
  }
  return found
}
