/**
 * Test helpers for @troupe/process: is a pid dead (by /proc, never `kill(pid, 0)`, which
 * succeeds on a zombie), leak checks by pid, by descendants of this test process, and by an
 * environment marker every fixture inherits (setsid escapees too).
 */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** The monorepo root (where `node --import tsx` resolves). */
export const repoRoot: string = fileURLToPath(new URL("../../../", import.meta.url))
/** `packages/process/test/fixtures/<name>`. */
export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

interface Stat {
  readonly state: string
  readonly ppid: number
  readonly startTime: string
}

const readStat = (pid: number): Stat | undefined => {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ")
  return { state: rest[0]!, ppid: Number(rest[1]), startTime: rest[19]! }
}

/** The state letter from /proc/<pid>/stat (R S D Z T t X I …), or undefined when the pid is gone. */
export const procState = (pid: number): string | undefined => readStat(pid)?.state

/** Dead: missing from /proc, or a zombie (Z) / dead (X) that its parent has not reaped yet. */
export const isDead = (pid: number): boolean => {
  const s = procState(pid)
  return s === undefined || s === "Z" || s === "X"
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s.length > 0).join(" ")
  } catch {
    return "?"
  }
}

/** `pid [state] command` for failure messages. */
export const describePid = (pid: number): string => `${pid} [${procState(pid) ?? "gone"}] ${cmdline(pid)}`

const pollUntil = (cond: () => boolean, withinMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMs
    while (true) {
      if (cond()) return true
      if (Date.now() >= deadline) return false
      yield* Effect.sleep("10 millis")
    }
  })

/** Every pid is dead (see `isDead`) within `withinMs` (polled every 10 ms); else the test fails naming the live ones. */
export const expectAllDead = (pids: Iterable<number>, withinMs: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const list = [...new Set(pids)]
    yield* pollUntil(() => list.every(isDead), withinMs)
    expect(list.filter((p) => !isDead(p)).map(describePid), `pids alive ${withinMs} ms after the call`).toEqual([])
  })

/** Live (not Z/X) descendants of `root` by ppid links: `pid:starttime` keys (start time guards against PID reuse). */
export const liveDescendants = (root: number = process.pid): Map<string, number> => {
  const byParent = new Map<number, Array<{ pid: number; stat: Stat }>>()
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    const stat = readStat(pid)
    if (stat === undefined) continue
    const list = byParent.get(stat.ppid)
    if (list === undefined) byParent.set(stat.ppid, [{ pid, stat }])
    else list.push({ pid, stat })
  }
  const out = new Map<string, number>()
  const queue = [root]
  while (queue.length > 0) {
    for (const { pid, stat } of byParent.get(queue.pop()!) ?? []) {
      if (stat.state !== "Z" && stat.state !== "X") out.set(`${pid}:${stat.startTime}`, pid)
      queue.push(pid)
    }
  }
  return out
}

/** No live descendant of this process that was not in `baseline` (within `withinMs`). */
export const expectNoNewDescendants = (baseline: ReadonlyMap<string, number>, withinMs: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const fresh = () => [...liveDescendants()].filter(([k]) => !baseline.has(k)).map(([, pid]) => pid)
    yield* pollUntil(() => fresh().length === 0, withinMs)
    expect(fresh().map(describePid), "new descendants of the test process still alive").toEqual([])
  })

/** The environment variable carrying the per-test marker into every fixture process. */
export const MARK_VAR = "TROUPE_TEST_MARK"

/** Live processes whose initial environment holds `TROUPE_TEST_MARK=<mark>` (own-uid processes). */
export const markedProcesses = (mark: string): Array<number> => {
  const needle = `${MARK_VAR}=${mark}`
  const out: Array<number> = []
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    let env: string
    try {
      env = readFileSync(`/proc/${name}/environ`, "utf8")
    } catch {
      continue
    }
    if (env.split("\0").includes(needle) && !isDead(Number(name))) out.push(Number(name))
  }
  return out
}

/** SIGKILL whatever a test left behind (after its assertions already failed), so later tests start clean. */
export const killMarked = (mark: string): void => {
  for (const pid of markedProcesses(mark)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * Run a test body with leak checks: a fresh marker in `process.env` (so every child inherits
 * it), and afterwards no new live descendant of this process and no live marked process
 * anywhere (escapees reparent to PID 1, so only the marker finds them). Leftovers are
 * SIGKILLed in any case. The body receives a temp dir (removed afterwards).
 */
export const leakChecked = <A, E, R>(
  body: (ctx: { readonly mark: string; readonly dir: string }) => Effect.Effect<A, E, R>,
  withinMs = 2000
): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const mark = randomUUID()
    const dir = mkdtempSync(join(tmpdir(), "troupe-process-test-"))
    const previous = process.env[MARK_VAR]
    process.env[MARK_VAR] = mark
    const baseline = liveDescendants()
    return body({ mark, dir }).pipe(
      Effect.tap(() =>
        Effect.gen(function*() {
          yield* expectNoNewDescendants(baseline, withinMs)
          yield* pollUntil(() => markedProcesses(mark).length === 0, withinMs)
          expect(markedProcesses(mark).map(describePid), "fixture processes still alive").toEqual([])
        })
      ),
      Effect.ensuring(Effect.sync(() => {
        killMarked(mark)
        if (previous === undefined) delete process.env[MARK_VAR]
        else process.env[MARK_VAR] = previous
        rmSync(dir, { recursive: true, force: true })
      }))
    )
  })

/** Pids in a file the fixtures append `$$` / `$!` to, one per line (empty if missing). */
export const readPids = (file: string): Array<number> => {
  try {
    return readFileSync(file, "utf8").split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number)
  } catch {
    return []
  }
}

/** Wait until `file` holds at least `n` pids (bounded). */
export const awaitPids = (file: string, n: number, withinMs: number): Effect.Effect<Array<number>> =>
  Effect.gen(function*() {
    yield* pollUntil(() => readPids(file).length >= n, withinMs)
    const pids = readPids(file)
    expect(pids.length, `pids in ${file}`).toBeGreaterThanOrEqual(n)
    return pids
  })

/**
 * The deterministic byte pattern `fixtures/bigout.mjs` writes (keep the two in sync):
 * byte i of stream `seed` is `(i * 31 + (i >>> 11) + seed * 101) & 0xff`.
 */
export const pattern = (size: number, seed: number): Buffer => {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >>> 11) + seed * 101) & 0xff
  return b
}
