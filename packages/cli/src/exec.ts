/**
 * `troupe exec [OPTIONS] -- COMMAND [ARGS…]`: run COMMAND under supervision, as `timeout(1)`
 * does where the two overlap.
 *
 * COMMAND runs in its own process group (and session) with stdin inherited and stdout/stderr
 * passed through byte-exact; troupe exits with its code. After COMMAND exits, whatever it left in
 * its group and any orphan still holding its stdout/stderr is torn down too (`@troupe/process`
 * Process.spawn and its ladder), and so is every orphan of COMMAND's tree: troupe is a subreaper
 * (prctl(PR_SET_CHILD_SUBREAPER), as tini is), so a daemon that left COMMAND's session, or what
 * the threads of a SIGKILLed COMMAND started, re-parents to troupe and gets the ladder last.
 * Nothing COMMAND started outlives troupe exec.
 *
 * Stopping (each step bounded by `--kill-after`, default 2 s = `Bounds.terminateGraceMs`):
 * - `--timeout` fires: `--signal` (default TERM) goes to the group. TERM runs the ladder
 *   (SIGTERM, `--kill-after`, SIGKILL); KILL kills at once; any other signal is sent, and SIGKILL
 *   follows after `--kill-after` if the group has not finished (as `timeout -s SIG -k DUR`).
 * - Ctrl-C (SIGINT): forwarded as SIGINT to the group; if the group has not finished after
 *   `--kill-after`, or on a second SIGINT/SIGTERM/SIGHUP, the ladder runs.
 * - SIGTERM/SIGHUP: the ladder runs at once.
 * - Any signal arriving while the ladder runs sends SIGKILL to the group at once.
 *
 * Exit codes: COMMAND's code; 128+N when it died of signal N; 124 timeout; 130/143/129 when troupe
 * was stopped by SIGINT/SIGTERM/SIGHUP (`--preserve-status`: COMMAND's status instead, in both
 * cases); 125 troupe's own errors (usage); 126 COMMAND cannot be executed; 127 not found.
 *
 * `--foreground` of timeout(1) is not offered: COMMAND always runs in a new session (setsid), so it
 * has no controlling terminal; troupe forwards Ctrl-C instead.
 */
import { Args, Command, HelpDoc, Options } from "@effect/cli"
import { Effect, Either, Option, Queue } from "effect"
import { constants } from "node:os"
import * as ExitStatus from "@troupe/process/ExitStatus"
import * as Liveness from "@troupe/process/Liveness"
import * as Process from "@troupe/process/Process"
import * as Bounds from "@troupe/process/Bounds"
import * as Subreaper from "@troupe/process/Subreaper"
import { accepted, parseMillis, validated } from "./internal/duration.js"
import { ExitCode } from "./internal/exitCode.js"

export interface ExecOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Milliseconds until COMMAND is stopped and the exit code is 124; undefined or 0: none. */
  readonly timeoutMs: number | undefined
  /** Milliseconds from the first signal to SIGKILL (the ladder's `terminateGraceMs`). */
  readonly killAfterMs: number | undefined
  /** The signal sent when the timeout fires (default SIGTERM). */
  readonly signal: NodeJS.Signals
  /** Exit with COMMAND's status even after a timeout or a signal to troupe. */
  readonly preserveStatus: boolean
  /** Print the teardown report as one JSON line on stderr. */
  readonly report: boolean
}

/** `TERM`, `SIGTERM`, `term` or `15` → `"SIGTERM"`; undefined when not a signal. */
export const parseSignal = (text: string): NodeJS.Signals | undefined => {
  const signals = constants.signals as Record<string, number>
  if (/^\d+$/.test(text)) return Object.keys(signals).find((k) => signals[k] === Number(text)) as NodeJS.Signals | undefined
  const name = text.toUpperCase().startsWith("SIG") ? text.toUpperCase() : `SIG${text.toUpperCase()}`
  return name in signals ? (name as NodeJS.Signals) : undefined
}

const duration = (name: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("DURATION"),
    Options.mapEffect((text) => validated(`--${name}`, parseMillis(text)))
  )

const options = {
  timeout: duration("timeout").pipe(
    Options.withAlias("t"),
    Options.withDescription(`Stop COMMAND after DURATION and exit 124 (0: never). DURATION is ${accepted}.`),
    Options.optional
  ),
  killAfter: duration("kill-after").pipe(
    Options.withAlias("k"),
    Options.withDescription(
      `Grace from the first signal to SIGKILL (default ${Bounds.defaultLadderBounds.terminateGraceMs / 1000}s). ` +
        "0: SIGKILL right after the first signal."
    ),
    Options.optional
  ),
  signal: Options.text("signal").pipe(
    Options.withAlias("s"),
    Options.withPseudoName("SIG"),
    Options.withDescription("Signal sent to COMMAND's group on timeout: a name (TERM, SIGINT) or number. Default TERM."),
    Options.mapEffect((text) => {
      const sig = parseSignal(text)
      return validated(
        "--signal",
        sig === undefined ? Either.left(`unknown signal '${text}' (a name such as TERM, INT, HUP, KILL, or a number)`) : Either.right(sig)
      )
    }),
    Options.withDefault("SIGTERM" as NodeJS.Signals)
  ),
  preserveStatus: Options.boolean("preserve-status").pipe(
    Options.withDescription("Exit with COMMAND's status even when it timed out or troupe was signalled.")
  ),
  report: Options.choice("report", ["json"]).pipe(
    Options.withDescription("Print the teardown report (steps, pids killed, survivors) as JSON on stderr."),
    Options.optional
  )
}

const args = {
  command: Args.text({ name: "COMMAND" }).pipe(
    Args.withDescription("The program to run (after --)."),
    // @effect/cli hands an option it does not know to the arguments: a COMMAND never starts with -.
    Args.mapEffect((text) =>
      text.startsWith("-") ? Either.left(HelpDoc.p(`Received unknown option: '${text}'`)) : Either.right(text)
    )
  ),
  args: Args.text({ name: "ARGS" }).pipe(Args.repeated)
}

export const exitCodesHelp = HelpDoc.blocks([
  HelpDoc.p("Runs COMMAND in its own process group, passes stdout/stderr through byte-exact, and tears down " +
    "everything it started when it exits, times out or troupe is stopped. Put -- before COMMAND."),
  HelpDoc.p("Ctrl-C (SIGINT) is forwarded as SIGINT to COMMAND's group; a second Ctrl-C, or --kill-after " +
    "passing, runs the ladder (SIGTERM, then SIGKILL after --kill-after). SIGTERM/SIGHUP run the ladder at " +
    "once; a signal during the ladder sends SIGKILL at once."),
  HelpDoc.p("Exit status: COMMAND's own code; 128+N if COMMAND died of signal N; 124 if --timeout fired; " +
    "130 / 143 / 129 if troupe got SIGINT / SIGTERM / SIGHUP (with --preserve-status: COMMAND's status in " +
    "both cases); 125 if troupe itself failed (bad usage); 126 if COMMAND cannot be executed; 127 if COMMAND " +
    "was not found."),
  HelpDoc.p("Environment: TROUPE_LOG (troupe's log level on stderr: debug, info, warning, error, none; " +
    "default warning). See docs/configuration.md.")
])

export const command = Command.make("exec", { ...options, ...args }, (o) =>
  Effect.flatMap(
    exec({
      command: o.command,
      args: o.args,
      timeoutMs: Option.getOrUndefined(o.timeout),
      killAfterMs: Option.getOrUndefined(o.killAfter),
      signal: o.signal,
      preserveStatus: o.preserveStatus,
      report: Option.isSome(o.report)
    }),
    ExitCode.set
  )).pipe(Command.withDescription(exitCodesHelp))

const write = (stream: NodeJS.WriteStream) => (chunk: Uint8Array) => void stream.write(chunk)

type Stop =
  | { readonly _tag: "Done"; readonly report: Process.TeardownReport }
  | { readonly _tag: "Timeout" }
  | { readonly _tag: "Signal"; readonly signal: NodeJS.Signals }

const caught: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM", "SIGHUP"]

/** Runs the command; resolves to troupe's exit code. */
export const exec = (o: ExecOptions): Effect.Effect<number> =>
  Effect.scoped(Effect.gen(function*() {
    const killAfterMs = o.killAfterMs ?? Bounds.defaultLadderBounds.terminateGraceMs
    // Signals are caught before the child exists, so none is lost in between.
    const signals = yield* Queue.unbounded<NodeJS.Signals>()
    let pgid: number | undefined
    let laddering = false
    const onSignal = (sig: NodeJS.Signals) => {
      if (laddering && pgid !== undefined) Liveness.signalGroup(pgid, "SIGKILL") // impatient: skip the rest
      Queue.unsafeOffer(signals, sig)
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => caught.forEach((s) => process.on(s, onSignal))),
      () => Effect.sync(() => caught.forEach((s) => process.off(s, onSignal)))
    )
    // Orphans of COMMAND's tree (a daemon in a session of its own, what a SIGKILLed COMMAND's
    // threads started) re-parent to troupe, which ends them (the ladder) after COMMAND's own
    // teardown, once the scope closes: released after the spawn's finalizer, acquired before it.
    yield* Subreaper.enable.pipe(
      Effect.provideService(Bounds.Bounds, { ...Bounds.defaultLadderBounds, terminateGraceMs: killAfterMs }),
      Effect.catchAll((e) => Effect.logDebug(`troupe exec: not a subreaper: ${e.message}`))
    )
    const handle = yield* Process.spawn({
      command: o.command,
      args: o.args,
      stdin: "inherit",
      stdout: { onChunk: write(process.stdout) },
      stderr: { onChunk: write(process.stderr) },
      bounds: { terminateGraceMs: killAfterMs }
    })
    pgid = handle.pgid
    const nextSignal = Queue.take(signals)

    /** The ladder (SIGTERM or straight SIGKILL); later signals SIGKILL the group (`onSignal`). */
    const ladder = (reason: string, startAt?: "SIGKILL") =>
      Effect.suspend(() => {
        laddering = true
        return handle.terminate(reason, startAt)
      })
    /** Send `sig`, give the group `killAfterMs` (or until the next signal), then `then`. */
    const gentle = (sig: NodeJS.Signals, then: Effect.Effect<Process.TeardownReport>) =>
      Effect.gen(function*() {
        Liveness.signalGroup(handle.pgid, sig)
        const finished = yield* Effect.raceFirst(
          handle.done.pipe(Effect.timeout(killAfterMs), Effect.option),
          nextSignal.pipe(Effect.as(Option.none()))
        )
        return Option.isSome(finished) ? finished.value : yield* then
      })

    const timedOut = o.timeoutMs === undefined || o.timeoutMs === 0
      ? Effect.never
      : Effect.sleep(o.timeoutMs).pipe(Effect.as<Stop>({ _tag: "Timeout" }))
    const first: Stop = yield* Effect.raceAll([
      handle.done.pipe(Effect.map((report): Stop => ({ _tag: "Done", report }))),
      nextSignal.pipe(Effect.map((signal): Stop => ({ _tag: "Signal", signal }))),
      timedOut
    ])
    const report = first._tag === "Done"
      ? first.report
      : first._tag === "Timeout"
      ? yield* (o.signal === "SIGTERM"
        ? ladder("timeout")
        : o.signal === "SIGKILL"
        ? ladder("timeout", "SIGKILL")
        : gentle(o.signal, ladder("timeout", "SIGKILL")))
      : first.signal === "SIGINT"
      ? yield* gentle("SIGINT", ladder("interrupted"))
      : yield* ladder(`signal ${first.signal}`)
    if (o.report) process.stderr.write(JSON.stringify(report) + "\n")
    const own = report.leader === undefined ? 125 : ExitStatus.toShellCode(report.leader)
    if (o.preserveStatus || first._tag === "Done") return own
    return first._tag === "Timeout" ? 124 : 128 + (constants.signals[first.signal] ?? 0)
  }).pipe(
    Effect.catchTag("SpawnError", (e) =>
      Effect.sync(() => {
        process.stderr.write(`troupe exec: ${e.command}: ${e.message}\n`)
        return e.reason === "ENOENT" ? 127 : 126 // as sh(1) reports
      }))
  ))
