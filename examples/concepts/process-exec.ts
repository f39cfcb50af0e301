// process-exec.ts — `troupe exec` from Effect code: `@troupe/process` runs a command in its own
// process group as a scoped resource; however it ends (exit, timeout, interruption), the
// termination ladder runs within its bounds and returns a `TeardownReport` whose `survivors`
// must be empty.
//
//   npx tsx examples/concepts/process-exec.ts
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Option, Stream } from "effect"
import * as ExitStatus from "@troupe/process/ExitStatus"
import * as Process from "@troupe/process/Process"

/** One line per teardown step: what it waited for and whether its bound expired. */
const describe = (report: Process.TeardownReport) =>
  `reason: ${report.reason}; leader: ${report.leader ? ExitStatus.format(report.leader) : "?"}; ` +
  `steps: ${report.steps.map((s) => `${s.step} ${s.durationMs} ms (${s.outcome})`).join(" → ")}; ` +
  `orphans killed: ${report.orphansKilled.map((o) => `${o.pid} "${o.command}"`).join(", ") || "none"}; ` +
  `survivors: ${report.survivors.length}`

const program = Effect.gen(function*() {
  // 1. Run to completion: stdout and stderr collected; a non-zero exit is a result, not a failure.
  const ran = yield* Process.run({ command: "sh", args: ["-c", "echo to stdout; echo to stderr >&2; exit 3"] })
  yield* Console.log(`[run] ${ExitStatus.format(ran.status)}, stdout ${JSON.stringify(ran.stdout)}, stderr ${JSON.stringify(ran.stderr)}`)
  yield* Console.log(`[run] ${describe(ran.report)}`)

  // 2. A timeout, as `troupe exec --timeout 1s --kill-after 500ms`: the child ignores SIGTERM, so the
  //    ladder sends SIGTERM to its whole group, waits `terminateGraceMs`, then SIGKILLs it (the
  //    escalation is logged as a warning).
  const stopped = yield* Effect.scoped(Effect.gen(function*() {
    const t0 = Date.now()
    const child = yield* Process.spawn({
      command: "sh",
      args: ["-c", "trap '' TERM; echo started; sleep 30"],
      bounds: { terminateGraceMs: 500 }
    })
    const finished = yield* child.done.pipe(Effect.timeout("1 second"), Effect.option)
    // `terminate` runs the ladder (or joins the one under way) and returns its report.
    const report = Option.isSome(finished) ? finished.value : yield* child.terminate("timeout")
    const output = yield* child.stdout.pipe(Stream.decodeText(), Stream.mkString)
    const verdict = Option.isSome(finished) ? "finished in time" : "timed out (troupe exec would exit 124)"
    yield* Console.log(`[timeout] ${verdict}; stopped ${Date.now() - t0} ms after the spawn; output ${JSON.stringify(output)}`)
    yield* Console.log(`[timeout] ${describe(report)}`)
    return report
  }))

  // 3. Nothing outlives the command: a `setsid` escapee holding our stdout is found by its pipe
  //    and killed once the command exits, so reading stdout ends promptly instead of hanging.
  const t1 = Date.now()
  const escaped = yield* Process.run({ command: "sh", args: ["-c", "echo RESULT_LINE; setsid sleep 30 &"] })
  yield* Console.log(`[escapee] returned after ${Date.now() - t1} ms with stdout ${JSON.stringify(escaped.stdout)}`)
  yield* Console.log(`[escapee] ${describe(escaped.report)}`)

  // An interrupted run tears its tree down in the finalizer, within the same bounds:
  // `Process.run(...).pipe(Effect.timeout("1 second"))` returns once the ladder is done.
  const leaks = [ran.report, stopped, escaped.report].flatMap((r) => r.survivors)
  if (leaks.length > 0) return yield* Effect.dieMessage(`survivors: ${leaks.join(" ")}`)
})

NodeRuntime.runMain(program)
