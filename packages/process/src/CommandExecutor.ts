/**
 * A drop-in `CommandExecutor` for `@effect/platform`: the same `Command` API, with the bounded,
 * tree- and orphan-aware teardown of `Process.spawn`.
 *
 * ```ts
 * // before: Effect.provide(NodeCommandExecutor.layer) (+ NodeFileSystem.layer)
 * program.pipe(Effect.provide(TroupeCommandExecutor.layer))
 * ```
 *
 * Differences from `NodeCommandExecutor`, all on purpose:
 * - closing the scope runs the termination ladder (SIGTERM → SIGKILL at a deadline, orphan
 *   pipe writers killed, output drained) instead of SIGTERM and an unbounded wait;
 * - `kill(signal)` signals the whole group, waits `terminateGraceMs` for the leader, then runs
 *   the ladder; it never waits unboundedly;
 * - output is always drained, so an unconsumed `stdout` never blocks the child.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import { type PlatformError, SystemError, type SystemErrorReason } from "@effect/platform/Error"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Bounds from "./Bounds.js"
import { completes } from "./internal/bounded.js"
import * as Liveness from "./Liveness.js"
import * as Process from "./Process.js"
import type { SpawnError } from "./ProcessError.js"

const reasonOf = (errno: string): SystemErrorReason =>
  errno === "ENOENT" ? "NotFound" : errno === "EACCES" || errno === "EPERM" ? "PermissionDenied" : "Unknown"

const toPlatformError = (method: string, description: string, errno?: string, cause?: unknown) =>
  new SystemError({
    reason: errno === undefined ? "Unknown" : reasonOf(errno),
    module: "Command",
    method,
    description,
    ...(errno === undefined ? {} : { syscall: "spawn" }),
    ...(cause === undefined ? {} : { cause })
  })

const fromSpawnError = (e: SpawnError) => toPlatformError("spawn", `${e.command}: ${e.message}`, e.reason, e)

const ProcessProto = {
  [CommandExecutor.ProcessTypeId]: CommandExecutor.ProcessTypeId,
  ...Inspectable.BaseProto,
  toJSON(this: { pid: number }) {
    return { _id: "@effect/platform/CommandExecutor/Process", pid: this.pid }
  }
}

const startStandard = (
  command: Command.StandardCommand
): Effect.Effect<CommandExecutor.Process, PlatformError, Scope.Scope> =>
  Effect.gen(function*() {
    const bounds = yield* Bounds.Bounds
    const env = Object.fromEntries(HashMap.toEntries(command.env))
    const handle = yield* Process.spawn({
      command: command.command,
      args: command.args,
      env: command.extendEnv ? { ...process.env, ...env } : env,
      shell: command.shell,
      ...Option.match(command.cwd, { onNone: () => ({}), onSome: (cwd) => ({ cwd }) }),
      stdin: typeof command.stdin === "string" ? command.stdin : "pipe",
      stdout: command.stdout === "inherit" ? "inherit" : "stream",
      stderr: command.stderr === "inherit" ? "inherit" : "stream"
    }).pipe(Effect.mapError(fromSpawnError))

    const exited = yield* Deferred.make<Process.ExitStatus>()
    yield* handle.exit.pipe(Effect.flatMap((s) => Deferred.succeed(exited, s)), Effect.forkScoped)

    const exitCode = Effect.flatMap(Deferred.await(exited), (s) =>
      s._tag === "Exited"
        ? Effect.succeed(CommandExecutor.ExitCode(s.code))
        : Effect.fail(toPlatformError("exitCode", `Process interrupted due to receipt of signal: ${s.signal}`)))

    const kill = (signal: CommandExecutor.Signal = "SIGTERM") =>
      Effect.gen(function*() {
        if (signal !== "SIGKILL" && (yield* Deferred.isDone(exited))) return
        Liveness.signalGroup(handle.pgid, signal as NodeJS.Signals)
        const gone = yield* completes(Deferred.await(exited), bounds.terminateGraceMs)
        if (!gone) {
          yield* Effect.logWarning(`kill(${signal}) did not end ${command.command} in ${bounds.terminateGraceMs} ms; running the ladder`)
          yield* handle.terminate(`kill(${signal}) escalated`, "SIGKILL")
          // The ladder saw the exit through /proc or a pidfd; Node's 'exit' follows on SIGCHLD.
          yield* completes(Deferred.await(exited), bounds.killGraceMs)
        }
      })

    let stdout: Stream.Stream<Uint8Array, PlatformError> = handle.stdout
    if (typeof command.stdout !== "string") stdout = Stream.transduce(stdout, command.stdout)
    let stderr: Stream.Stream<Uint8Array, PlatformError> = handle.stderr
    if (typeof command.stderr !== "string") stderr = Stream.transduce(stderr, command.stderr)

    const proc: CommandExecutor.Process = Object.assign(Object.create(ProcessProto), {
      pid: CommandExecutor.ProcessId(handle.pid),
      exitCode,
      isRunning: Effect.negate(Deferred.isDone(exited)),
      kill,
      stdin: handle.stdin as Sink.Sink<void, Uint8Array, never, PlatformError>,
      stdout,
      stderr
    })
    if (typeof command.stdin !== "string") {
      yield* Stream.run(command.stdin, proc.stdin).pipe(Effect.ignore, Effect.forkScoped)
    }
    return proc
  })

const start = (command: Command.Command): Effect.Effect<CommandExecutor.Process, PlatformError, Scope.Scope> => {
  if (command._tag === "StandardCommand") return startStandard(command)
  // A pipeline: each stage's stdout feeds the next stage's stdin (as NodeCommandExecutor does).
  const [head, ...tail] = Command.flatten(command)
  if (tail.length === 0) return startStandard(head)
  const last = tail[tail.length - 1]!
  const stdin = tail.slice(0, -1).reduce(
    (input, stage) =>
      Stream.unwrapScoped(Effect.map(startStandard(Command.stdin(stage, input) as Command.StandardCommand), (p) => p.stdout)),
    Stream.unwrapScoped(Effect.map(startStandard(head), (p) => p.stdout))
  )
  return startStandard(Command.stdin(last, stdin) as Command.StandardCommand)
}

/** The executor itself, for code that builds its own layer. */
export const make: CommandExecutor.CommandExecutor = CommandExecutor.makeExecutor(start)

/** Provides `CommandExecutor` backed by `Process.spawn`. Bounds come from `Bounds` in the context. */
export const layer: Layer.Layer<CommandExecutor.CommandExecutor> = Layer.succeed(CommandExecutor.CommandExecutor, make)
