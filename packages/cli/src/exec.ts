/**
 * `troupe exec [--timeout MS] [--grace MS] [--report json] -- CMD ARGS…`
 *
 * Runs CMD in its own process group with stdout/stderr passed through byte-exact, and exits
 * with its code: 128 + N when it was killed by signal N, 124 when `--timeout` fired (as
 * timeout(1) does). On its own SIGINT/SIGTERM or the timeout it runs the termination ladder
 * (SIGTERM, then SIGKILL after `--grace` ms); a second SIGINT/SIGTERM sends SIGKILL to the
 * group at once. After CMD exits, whatever it left in its group and any orphan still holding
 * its stdout/stderr is torn down too: nothing CMD started outlives it.
 */
import { Deferred, Duration, Effect, Option } from "effect"
import * as ExitStatus from "@troupe/process/ExitStatus"
import * as Liveness from "@troupe/process/Liveness"
import * as Process from "@troupe/process/Process"

export interface ExecOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Milliseconds until the ladder runs and the exit code is 124. */
  readonly timeoutMs: number | undefined
  /** Milliseconds from SIGTERM to SIGKILL. */
  readonly graceMs: number | undefined
  readonly report: boolean
}

export const usage = `usage: troupe exec [--timeout MS] [--grace MS] [--report json] -- CMD [ARGS...]`

export const parseExec = (argv: ReadonlyArray<string>): ExecOptions | string => {
  let timeoutMs: number | undefined
  let graceMs: number | undefined
  let report = false
  let i = 0
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v)
    if (v === undefined || !Number.isFinite(n) || n < 0) throw `${flag} takes a number of milliseconds`
    return n
  }
  try {
    for (; i < argv.length; i++) {
      const a = argv[i]!
      if (a === "--") {
        i++
        break
      }
      if (a === "--timeout") timeoutMs = num(a, argv[++i])
      else if (a === "--grace") graceMs = num(a, argv[++i])
      else if (a === "--report") {
        if (argv[++i] !== "json") throw "--report takes 'json'"
        report = true
      } else if (a.startsWith("-")) throw `unknown option ${a}`
      else break
    }
  } catch (e) {
    return String(e)
  }
  const [command, ...args] = argv.slice(i)
  if (command === undefined) return "missing CMD"
  return { command, args, timeoutMs, graceMs, report }
}

const write = (stream: NodeJS.WriteStream) => (chunk: Uint8Array) => void stream.write(chunk)

/** Runs the command; resolves to the exit code for `process.exitCode`. */
export const exec = (o: ExecOptions): Effect.Effect<number> =>
  Effect.scoped(Effect.gen(function*() {
    // Signals are caught before the child exists, so none is lost in between.
    const stop = yield* Deferred.make<string>()
    let signals = 0
    let pgid: number | undefined
    const onSignal = (sig: NodeJS.Signals) => {
      if (++signals > 1 && pgid !== undefined) Liveness.signalGroup(pgid, "SIGKILL") // impatient: skip the ladder
      Deferred.unsafeDone(stop, Effect.succeed(`signal ${sig}`))
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        process.on("SIGINT", onSignal)
        process.on("SIGTERM", onSignal)
      }),
      () =>
        Effect.sync(() => {
          process.off("SIGINT", onSignal)
          process.off("SIGTERM", onSignal)
        })
    )
    const handle = yield* Process.spawn({
      command: o.command,
      args: o.args,
      stdin: "inherit",
      stdout: { onChunk: write(process.stdout) },
      stderr: { onChunk: write(process.stderr) },
      ...(o.graceMs === undefined ? {} : { bounds: { terminateGraceMs: o.graceMs } })
    })
    pgid = handle.pgid
    const timedOut = o.timeoutMs === undefined
      ? Effect.never
      : Effect.sleep(Duration.millis(o.timeoutMs)).pipe(Effect.as("timeout"))
    const stopped = yield* Effect.raceFirst(
      handle.done.pipe(Effect.as(Option.none<string>())),
      Effect.raceFirst(Deferred.await(stop), timedOut).pipe(Effect.map(Option.some))
    )
    const report = Option.isNone(stopped) ? yield* handle.done : yield* handle.terminate(stopped.value)
    if (o.report) process.stderr.write(JSON.stringify(report) + "\n")
    if (Option.isSome(stopped) && stopped.value === "timeout") return 124
    return report.leader === undefined ? 125 : ExitStatus.toShellCode(report.leader)
  }).pipe(
    Effect.catchTag("SpawnError", (e) =>
      Effect.sync(() => {
        process.stderr.write(`troupe exec: ${e.command}: ${e.message}\n`)
        return e.reason === "ENOENT" ? 127 : 126 // as sh(1) reports
      }))
  ))
