/**
 * Hostile children, torn down within a bound: each runs under `Process.spawn`, is cancelled
 * (or exits leaving an escapee), and its teardown report is printed.
 *
 *   npx tsx examples/process/hostile-children.ts
 */
import { Console, Duration, Effect } from "effect"
import * as Bounds from "@troupe/process/Bounds"
import * as Process from "@troupe/process/Process"
import { isAlive } from "@troupe/process/Liveness"

interface Case {
  readonly name: string
  readonly script: string
  /** Cancel after this many ms; undefined: let it exit. */
  readonly cancelAfterMs?: number
}

const cases: ReadonlyArray<Case> = [
  { name: "ignores SIGTERM", script: "trap '' TERM; echo started; sleep 30", cancelAfterMs: 500 },
  { name: "setsid escapee holds stdout", script: "echo RESULT_LINE; setsid sh -c 'sleep 30' & sleep 0.1; exit 0" },
  {
    name: "3x2 nested tree",
    script: "for i in 1 2; do sh -c 'for j in 1 2; do sh -c \"sleep 30\" & done; wait' & done; echo tree; wait",
    cancelAfterMs: 500
  },
  { name: "5 MiB nobody reads", script: "head -c 5242880 /dev/zero; echo done >&2" }
]

const runCase = (c: Case) =>
  Effect.scoped(Effect.gen(function*() {
    const t0 = Date.now()
    const handle = yield* Process.spawn({ command: "sh", args: ["-c", c.script], stdout: "discard" })
    const report = c.cancelAfterMs === undefined
      ? yield* handle.done
      : yield* Effect.sleep(Duration.millis(c.cancelAfterMs)).pipe(Effect.zipRight(handle.terminate("cancelled")))
    const pids = [report.pid, ...report.killed, ...report.orphansKilled.map((o) => o.pid)]
    return {
      case: c.name,
      "returned after ms": Date.now() - t0,
      steps: report.steps.map((s) => `${s.step}${s.outcome === "escalated" ? "!" : ""}`).join(" → "),
      killed: report.killed.length,
      "orphans killed": report.orphansKilled.length,
      "left alive": pids.filter((p) => isAlive(p)).length
    }
  }))

const program = Effect.gen(function*() {
  yield* Console.log(`exit waits: ${Process.capabilities.mode}`)
  const rows = yield* Effect.forEach(cases, runCase)
  yield* Console.table(rows)
  yield* Console.log("(a step marked ! hit its bound and escalated; nothing is left alive)")
})

Effect.runPromise(program.pipe(Effect.provide(Bounds.layer({ terminateGraceMs: 1000 }))))
