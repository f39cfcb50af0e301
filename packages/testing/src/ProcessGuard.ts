/**
 * A process-leak guard for tests: every process that descends from the test process while the
 * guard is open (and every pid handed to `track`) must be gone at the end, judged by
 * `/proc/<pid>/stat` (a zombie counts as dead; `kill(pid, 0)` is not a liveness check).
 *
 * The guard turns on subreaper mode (`@troupe/process/Subreaper`, when the addon is loaded) so
 * descendants orphaned by a dying parent are re-parented to the test process and stay visible;
 * a poller records descendants every `pollMs` so short-lived ones are known too.
 *
 * On failure the survivors are listed with their command lines, then SIGKILLed so one leaking
 * test does not poison the next. A tracked pid may be a thread of this process (a worker actor's
 * pid is its thread id): it is checked the same way (`/proc/<tid>`), reported, never signalled.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schema, type Scope } from "effect"
import { existsSync, readFileSync } from "node:fs"
import * as Liveness from "@troupe/process/Liveness"
import * as ProcessTable from "@troupe/process/ProcessTable"
import * as Subreaper from "@troupe/process/Subreaper"
import { testBounds } from "./Bounds.js"

export class LeakedProcesses extends Schema.TaggedError<LeakedProcesses>()("LeakedProcesses", {
  survivors: Schema.Array(Schema.Struct({ pid: Schema.Number, command: Schema.String })),
  waitedMs: Schema.Number
}) {
  override get message(): string {
    return `${this.survivors.length} process(es) still alive ${this.waitedMs} ms after the test: ${
      this.survivors.map((s) => `${s.pid} ${s.command}`).join("; ")
    }`
  }
}

/** Pids of every process descending from `root` now (zombies included). */
export const descendants = (root: number = process.pid): Set<number> => {
  const children = new Map<number, Array<number>>()
  for (const s of ProcessTable.snapshot()) {
    const list = children.get(s.ppid)
    if (list) list.push(s.pid)
    else children.set(s.ppid, [s.pid])
  }
  const out = new Set<number>()
  const stack = [root]
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()!) ?? []) {
      if (!out.has(c)) {
        out.add(c)
        stack.push(c)
      }
    }
  }
  return out
}

/** A thread of this very process (a worker actor's pid is its thread id): never to be signalled. */
const isOwnThread = (pid: number): boolean => pid !== process.pid && existsSync(`/proc/self/task/${pid}`)

const commandOf = (pid: number): string => {
  if (isOwnThread(pid)) {
    try {
      return `thread of this process: ${readFileSync(`/proc/self/task/${pid}/comm`, "utf8").trim()}`
    } catch {
      return "thread of this process"
    }
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim().slice(0, 200)
  } catch {
    return "?"
  }
}

export interface Guard {
  /** Also require this pid (e.g. an actor's, from its portal) to be gone at the end. */
  readonly track: (pid: number) => void
  /** Every pid the guard knows about (tracked or seen descending from the test process). */
  readonly seen: () => ReadonlySet<number>
  /** Wait up to `withinMs` for all of them to be dead; fail with `LeakedProcesses` (after killing them) otherwise. */
  readonly assertNoneLeft: (withinMs: number) => Effect.Effect<void, LeakedProcesses>
}

/** Open a guard for the current scope (see the module docs). */
export const make = (options: { readonly pollMs?: number } = {}): Effect.Effect<Guard, never, Scope.Scope> =>
  Effect.gen(function*() {
    const baseline = descendants()
    const seen = new Set<number>()
    const record = () => {
      for (const p of descendants()) if (!baseline.has(p)) seen.add(p)
    }
    yield* Subreaper.enable.pipe(Effect.catchAll((e) => Effect.logDebug(`process guard without subreaper: ${e.message}`)))
    yield* Effect.sync(record).pipe(
      Effect.zipRight(Effect.sleep(Duration.millis(options.pollMs ?? 50))),
      Effect.forever,
      Effect.forkScoped
    )
    const alive = () => [...seen].filter((p) => Liveness.isAlive(p))
    return {
      track: (pid) => void seen.add(pid),
      seen: () => new Set(seen),
      assertNoneLeft: (withinMs) =>
        Effect.gen(function*() {
          record()
          const deadline = Date.now() + withinMs
          while (alive().length > 0 && Date.now() < deadline) {
            yield* Effect.sleep(Duration.millis(20))
            record()
          }
          const survivors = alive()
          if (survivors.length === 0) return
          const report = survivors.map((pid) => ({ pid, command: commandOf(pid) }))
          for (const pid of survivors) {
            if (isOwnThread(pid)) continue // kill(2) on a tid signals the whole (test) process
            try {
              process.kill(pid, "SIGKILL")
            } catch {
              // gone meanwhile
            }
          }
          return yield* Effect.fail(new LeakedProcesses({ survivors: report, waitedMs: withinMs }))
        })
    }
  })

/**
 * Run `body` under a guard: when it is done (its scopes closed), every process it started must
 * be gone within `leakBoundMs` (default 5000 ms), else the test fails with `LeakedProcesses`.
 */
export const guarded = <A, E, R>(
  body: (guard: Guard) => Effect.Effect<A, E, R>,
  options: { readonly leakBoundMs?: number } = {}
): Effect.Effect<A, E | LeakedProcesses, Exclude<R, Scope.Scope>> =>
  Effect.scoped(
    Effect.gen(function*() {
      const guard = yield* make()
      const exit = yield* Effect.exit(Effect.scoped(body(guard)))
      yield* guard.assertNoneLeft(options.leakBoundMs ?? testBounds.leakMs)
      return yield* exit
    })
  )
