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
