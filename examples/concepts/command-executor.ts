// command-executor.ts — the `CommandExecutor` drop-in: keep `@effect/platform`'s `Command` API,
// provide `@troupe/process/CommandExecutor`'s layer instead of `NodeCommandExecutor.layer`, and
// every command gets the bounded, tree- and orphan-aware teardown of `@troupe/process`.
//
//   npx tsx examples/concepts/command-executor.ts
import * as Command from "@effect/platform/Command"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Layer } from "effect"
import * as Bounds from "@troupe/process/Bounds"
import * as TroupeCommandExecutor from "@troupe/process/CommandExecutor"

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const t0 = Date.now()
    const a = yield* effect
    return [a, Date.now() - t0] as const
  })

const program = Effect.gen(function*() {
  // Ordinary Command code: nothing here knows which executor runs it.
  const [lines] = yield* timed(Command.lines(Command.make("sh", "-c", "echo one; echo two")))
  yield* Console.log(`lines: ${JSON.stringify(lines)}`)

  // A command that leaves a `setsid` escapee holding its stdout: with NodeCommandExecutor,
  // `Command.string` waits for EOF until the escapee dies (30 s here). With troupe's executor the
  // escapee is killed once the command exits, and the output is complete.
  const [output, escapeeMs] = yield* timed(Command.string(Command.make("sh", "-c", "echo RESULT_LINE; setsid sleep 30 &")))
  yield* Console.log(`escapee: Command.string returned ${JSON.stringify(output)} after ${escapeeMs} ms`)

  // A command that ignores SIGTERM, cut off by a timeout: the scope's finalizer is the ladder
  // (SIGTERM, `terminateGraceMs`, SIGKILL to the group), so the timeout returns within a bound
  // instead of waiting for the child's whole life.
  const [timedOut, timeoutMs] = yield* timed(
    Command.exitCode(Command.make("sh", "-c", "trap '' TERM; sleep 30")).pipe(
      Effect.timeout("1 second"),
      Effect.as("finished"),
      Effect.catchTag("TimeoutException", () => Effect.succeed("timed out"))
    )
  )
  yield* Console.log(`SIGTERM-ignorer: ${timedOut}, returned after ${timeoutMs} ms (1 s timeout + 500 ms grace, then SIGKILL)`)

  // 1 MiB on stdout that nobody reads: output is always drained, so the child never blocks.
  const [code, floodMs] = yield* timed(Command.exitCode(Command.make("sh", "-c", "head -c 1048576 /dev/zero")))
  yield* Console.log(`unread 1 MiB stdout: exit code ${code} after ${floodMs} ms`)
})

// The only change from a NodeCommandExecutor program is this layer (NodeFileSystem not needed).
// `Bounds.layer` shortens SIGTERM → SIGKILL from its default 2000 ms for this demonstration.
program.pipe(
  Effect.provide(Layer.merge(TroupeCommandExecutor.layer, Bounds.layer({ terminateGraceMs: 500 }))),
  NodeRuntime.runMain
)
