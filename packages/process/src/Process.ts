/**
 * Spawn a command as a scoped resource: its own process group, output always drained, an
 * event-driven exit, and the termination ladder (`Ladder`) as its finalizer.
 *
 * Structured concurrency for processes: when the leader exits on its own, what it left in its
 * group, and any process outside it still holding our stdout/stderr, gets the same ladder after
 * a short post-exit grace (`Bounds.postExitGraceMs`, restarted while output flows, at most
 * `postExitGraceMaxMs`). Nothing the command started outlives it.
 *
 * ```ts
 * const result = yield* Process.run({ command: "sh", args: ["-c", "echo hi"] })
 * // { status: { _tag: "Exited", code: 0 }, stdout: "hi\n", stderr: "", report }
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Bounds from "./Bounds.js"
import type { ExitStatus } from "./ExitStatus.js"
import { completes } from "./internal/bounded.js"
import * as output from "./internal/output.js"
import * as procfs from "./internal/procfs.js"
import { Signal, waitFor } from "./internal/signal.js"
import * as Start from "./internal/start.js"
import * as Ladder from "./Ladder.js"
import * as Liveness from "./Liveness.js"
import * as Native from "./Native.js"
import { KilledBySignal, NonZeroExit, SpawnError } from "./ProcessError.js"

export type { ExitStatus } from "./ExitStatus.js"
/** The active exit-wait mode (`pidfd` or `proc-poll`) and why; logged once per process. */
export { capabilities } from "./Native.js"
export type { Output } from "./internal/output.js"
export type { TeardownReport } from "./Ladder.js"

export interface SpawnOptions {
  readonly command: string
  readonly args?: ReadonlyArray<string>
  readonly cwd?: string
  /** The child's whole environment when given (merge `process.env` yourself); else inherited. */
  readonly env?: Record<string, string | undefined>
  /** Default `"ignore"`. */
  readonly stdin?: "pipe" | "ignore" | "inherit"
  /** Default `"stream"`: buffered in memory until consumed from `stdout`. */
  readonly stdout?: output.Output
  /** Default `"stream"`. */
  readonly stderr?: output.Output
  /** Run through a shell (`child_process` semantics): `true` for /bin/sh, or a shell path. */
  readonly shell?: boolean | string
  /** Per-spawn overrides of the `Bounds` in the context. */
  readonly bounds?: Partial<Bounds.LadderBounds>
}

export interface ProcessHandle {
  readonly pid: number
  /** Equals `pid`: every spawn is the leader of its own process group (and session). */
  readonly pgid: number
  /** The child's stdout with `stdout: "stream"` (empty otherwise); ends at EOF. Consume once. */
  readonly stdout: Stream.Stream<Uint8Array>
  readonly stderr: Stream.Stream<Uint8Array>
  /** Writes to the child's stdin with `stdin: "pipe"`; ends it when the sink completes. */
  readonly stdin: Sink.Sink<void, Uint8Array>
  /** Completes when the leader exits and is reaped (its pidfd polls readable, or Node's `'exit'`: event-driven). */
  readonly exit: Effect.Effect<ExitStatus>
  /** The leader's exit status once it has been reaped, else `undefined`. */
  readonly exitStatus: () => ExitStatus | undefined
  /**
   * `Some(status)` when the leader exits within `ms` milliseconds, else `None`. A real bound in
   * a finalizer too (a timer ends it, no fiber is forked).
   */
  readonly exitWithin: (ms: number) => Effect.Effect<Option.Option<ExitStatus>>
  /**
   * True when stdout and stderr both reach EOF within `ms` milliseconds (they stay open either
   * way). A real bound in a finalizer too.
   */
  readonly outputEnded: (ms: number) => Effect.Effect<boolean>
  /** Completes when the leader exited, its tree was torn down and its output drained. */
  readonly done: Effect.Effect<Ladder.TeardownReport>
  /**
   * Run the ladder now (or join the teardown under way). Idempotent; bounded by `Bounds`.
   * `startAt: "SIGKILL"` skips the gentler rungs (the caller already sent SIGTERM and waited).
   */
  readonly terminate: (reason?: string, startAt?: "SIGTERM" | "SIGKILL") => Effect.Effect<Ladder.TeardownReport>
}

const commandLine = (o: SpawnOptions) => [o.command, ...(o.args ?? [])].join(" ")

/** The longest a whole teardown may take with these bounds, plus scan slack (ms). */
export const teardownBoundMs = (b: Bounds.LadderBounds): number =>
  b.postExitGraceMaxMs + b.interruptGraceMs + b.terminateGraceMs + 2 * b.killGraceMs + b.drainGraceMs + 2000

type Request = { readonly reason: string; readonly startAt?: "SIGTERM" | "SIGKILL" }

/**
 * Wait for the leader's tree to finish on its own after the leader exited: every output at EOF
 * and the group empty — or until nothing was written for `postExitGraceMs` (the timer restarts
 * on output), and at most `postExitGraceMaxMs`. Group members are awaited with exit waits
 * (pidfds), re-scanned each round. Cut short by a teardown request (returned then).
 */
const postExitGrace = (
  pgid: number,
  channels: ReadonlyArray<output.OutputChannel>,
  b: Bounds.LadderBounds,
  requested: Signal<Request>
): Effect.Effect<Request> =>
  Effect.gen(function*() {
    const start = Date.now()
    const exited: Request = { reason: "exited" }
    while (true) {
      const asked = requested.poll()
      if (Option.isSome(asked)) return asked.value
      const lastOutput = Math.max(start, ...channels.map((c) => c.lastActivity()))
      const quietUntil = Math.min(lastOutput + b.postExitGraceMs, start + b.postExitGraceMaxMs)
      const wait = quietUntil - Date.now()
      if (wait <= 0) return exited
      const open = channels.filter((c) => c.isOpen())
      if (open.length > 0) {
        // One more EOF, a request, or the quiet time running out: then look again.
        yield* waitFor([requested, ...open.map((c) => c.ended)], "any", wait)
        continue
      }
      // kill(-pgid, 0) first: the usual empty group costs no /proc scan.
      if (!Liveness.groupExists(pgid)) return exited
      const members = procfs.groupMembers(pgid).map((s) => ({ pid: s.pid, startTime: s.startTime }))
      if (members.length === 0) return exited
      yield* Effect.raceFirst(
        completes(Effect.forEach(members, Liveness.awaitExit, { concurrency: "unbounded", discard: true }), wait),
        requested.await
      )
    }
  })

/**
 * Start `options.command` in a new process group. The scope's finalizer runs the ladder
 * (bounded; see `Bounds`). Fails with `SpawnError` (reason `ENOENT`, `EACCES`, …).
 */
export const spawn = (options: SpawnOptions): Effect.Effect<ProcessHandle, SpawnError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* Native.logCapabilities
    const bounds = Bounds.merge(yield* Bounds.Bounds, options.bounds)
    const command = commandLine(options)
    const out = yield* output.make(options.stdout ?? "stream", 1, bounds.maxBufferedOutputBytes)
    const err = yield* output.make(options.stderr ?? "stream", 2, bounds.maxBufferedOutputBytes)
    const channels = [out, err]
    const exit = new Signal<ExitStatus>()
    const requested = new Signal<Request>()
    const report = new Signal<Ladder.TeardownReport>()

    // Started through posix_spawn where it can be, else Node (internal/start.ts).
    const started = yield* Effect.async<Start.Started, SpawnError>((resume) => {
      let s: Start.Started
      try {
        s = Start.start(options, out, err, (status) => exit.complete(status))
      } catch (e) {
        channels.forEach((c) => c.abort())
        return resume(Effect.fail(SpawnError.fromNode(command, e)))
      }
      const c = s.child
      if (c === undefined) {
        channels.forEach((ch) => ch.attach(undefined))
        return resume(Effect.succeed(s))
      }
      c.once("error", (e) => {
        if (c.pid === undefined) {
          channels.forEach((ch) => ch.abort())
          resume(Effect.fail(SpawnError.fromNode(command, e)))
        }
      })
      c.once("spawn", () => {
        channels.forEach((ch) => ch.attach(c))
        resume(Effect.succeed(s))
      })
    }).pipe(Effect.uninterruptible)

    const pid = started.pid
    const child = started.child
    const leader: Liveness.ProcessRef = Liveness.ref(pid) ?? { pid, startTime: -1 }
    const target: Ladder.LadderTarget = {
      pgid: pid,
      leader,
      outputInodes: new Set(channels.flatMap((c) => (c.inode() === undefined ? [] : [c.inode()!]))),
      outputOpen: () => channels.some((c) => c.isOpen()),
      drain: (ms) => output.drain(channels, ms),
      awaitEof: (ms) => output.awaitEof(channels, ms)
    }
    const exitNow = () => Option.getOrUndefined(exit.poll())

    // The supervisor: tears the tree down once, when asked or after the leader exited (then
    // after the post-exit grace, which a request cuts short).
    yield* Effect.gen(function*() {
      yield* waitFor([requested, exit], "any")
      const asked = requested.poll()
      let first: Request
      let grace: Array<Ladder.TeardownStep> = []
      if (Option.isSome(asked)) first = asked.value
      else {
        const t0 = Date.now()
        first = yield* postExitGrace(pid, channels, bounds, requested)
        grace = [{ step: "post-exit-grace", targets: [], durationMs: Date.now() - t0, outcome: "done" }]
      }
      const r = yield* Ladder.run(target, bounds, first.reason, exitNow, grace, first.startAt)
      // The ladder saw the leader die through a pidfd or /proc; Node's 'exit' follows on SIGCHLD.
      if (r.leader === undefined) yield* exit.within(bounds.killGraceMs)
      report.complete({ ...r, leader: exitNow() })
    }).pipe(
      Effect.annotateLogs({ pid, command }),
      Effect.interruptible, // started from the uninterruptible acquisition below
      Effect.forkDaemon
    )

    const bound = teardownBoundMs(bounds)
    const terminate = (reason = "terminated", startAt?: "SIGTERM" | "SIGKILL") =>
      Effect.suspend(() => {
        requested.complete(startAt === undefined ? { reason } : { reason, startAt })
        return report.within(bound)
      }).pipe(
        Effect.flatMap(Option.match({
          onSome: Effect.succeed,
          onNone: () =>
            Effect.logError(`teardown of ${command} did not finish within ${bound} ms`).pipe(
              Effect.as<Ladder.TeardownReport>({
                pid, pgid: pid, reason, leader: exitNow(), steps: [], killed: [], orphansKilled: [],
                survivors: procfs.groupMembers(pid).map((s) => s.pid), outputComplete: false, durationMs: bound
              })
            )
        })),
        Effect.uninterruptible
      )
    // Added to the scope as it is: no FiberRef diff and patch around it (the ladder runs in the
    // supervisor fiber above, with its own annotations; `terminate` needs no service).
    yield* Scope.addFinalizerExit(yield* Effect.scope, (e) => terminate(Exit.isInterrupted(e) ? "interrupted" : "scope closed"))

    const stdin: Sink.Sink<void, Uint8Array> = child?.stdin == null
      ? Sink.drain
      : Sink.forEach((chunk: Uint8Array) =>
        Effect.async<void>((resume) => {
          child.stdin!.write(chunk, () => resume(Effect.void)) // EPIPE after exit: dropped
        })
      ).pipe(Sink.ensuring(Effect.sync(() => child.stdin!.end())))
    child?.stdin?.on("error", () => {})

    return {
      pid,
      pgid: pid,
      stdout: out.stream,
      stderr: err.stream,
      stdin,
      exit: exit.await,
      exitStatus: exitNow,
      exitWithin: (ms) => exit.within(ms),
      outputEnded: (ms) => output.awaitEof(channels, ms),
      done: report.await,
      terminate
    } satisfies ProcessHandle
    // Uninterruptible from the spawn to the finalizer: an interruption landing in between (a
    // context cancelled as its handler started a process) left the process running, with no
    // finalizer to end it (found by the chaos suite, seed 20261218).
  }).pipe(Effect.uninterruptible)

export interface RunResult {
  readonly status: ExitStatus
  readonly stdout: string
  readonly stderr: string
  readonly report: Ladder.TeardownReport
}

/** Run to completion, collecting stdout/stderr as UTF-8. Never fails on a non-zero exit. */
export const run = (options: Omit<SpawnOptions, "stdout" | "stderr">): Effect.Effect<RunResult, SpawnError> =>
  Effect.scoped(Effect.gen(function*() {
    const handle = yield* spawn(options)
    const text = (s: Stream.Stream<Uint8Array>) => Stream.decodeText(s).pipe(Stream.mkString)
    const [stdout, stderr, report] = yield* Effect.all([text(handle.stdout), text(handle.stderr), handle.done], {
      concurrency: "unbounded"
    })
    return { status: report.leader ?? (yield* handle.exit), stdout, stderr, report }
  }))

/** Fail with `NonZeroExit` / `KilledBySignal` unless the status is exit code 0. */
export const ensureSuccess = (command: string, status: ExitStatus): Effect.Effect<void, NonZeroExit | KilledBySignal> =>
  status._tag === "Signaled"
    ? Effect.fail(new KilledBySignal({ command, signal: status.signal }))
    : status.code === 0
    ? Effect.void
    : Effect.fail(new NonZeroExit({ command, code: status.code }))
