/**
 * The hostile-children table: each hostile fixture against troupe (`Process`, and the
 * `CommandExecutor` layer), `@effect/platform`'s NodeCommandExecutor (the same `Command` code,
 * only the layer differs), execa 9 and Node's `child_process`.
 *
 * Every attempt gets a hard bound (BOUND_MS, above the fixtures' natural life LIFE_S): a call
 * that has not returned by then is reported as "hangs (> bound)", not suffered. Whatever the
 * fixture left is then counted by pid — from the pid file every fixture process appends `$$` to,
 * plus a scan of /proc/<pid>/environ for the attempt's marker (escapees too) — with
 * /proc/<pid>/stat (a zombie counts as dead), and SIGKILLed, so the bench leaves nothing behind.
 *
 * Full mode runs the attempts one after another; `--quick` runs them all at once.
 * Prints `BENCH_JSON {...}` (see lib.ts).
 */
import * as Command from "@effect/platform/Command"
import { CommandExecutor } from "@effect/platform/CommandExecutor"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as TroupeExecutor from "@troupe/process/CommandExecutor"
import { capabilities } from "@troupe/process/Native"
import * as Process from "@troupe/process/Process"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Option, Stream } from "effect"
import { execa } from "execa"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { awaitDead, emit, isDead, killAll, markedProcesses, now, quick, readPids, round, sleepMs, within } from "./lib.js"

/** Natural life of every long-lived fixture process (s). */
const LIFE_S = 6
/** Hard bound per attempt (ms). */
const BOUND_MS = 8000
/** The cancel point of the cancel cases (ms). */
const CANCEL_MS = 1000
/** execa's SIGTERM → SIGKILL delay: troupe's default `terminateGraceMs`, for a like-for-like ladder. */
const EXECA_FORCE_KILL_MS = 2000
/** Start no attempt past this (ms since start; an attempt takes at most ~16 s): run.mjs kills the module at 105 s. */
const BUDGET_MS = quick ? 25_000 : 88_000

const MARK = "BENCH_ATTEMPT"
const tree = fileURLToPath(new URL("./fixtures/tree.sh", import.meta.url))

type Kind = "cancel" | "complete" | "exitcode"

interface Case {
  readonly id: string
  readonly title: string
  /** `cancel`: cancelled at CANCEL_MS; `complete`: run to completion for stdout; `exitcode`: only the exit code is wanted (stdout never read). */
  readonly kind: Kind
  readonly argv: readonly [string, ...Array<string>]
  /** Processes the fixture starts (for the table). */
  readonly processes: number
}

const cases: ReadonlyArray<Case> = [
  {
    id: "sigterm-ignorer",
    title: `SIGTERM-ignorer (sh + sleep ${LIFE_S}, both ignore TERM), cancelled at 1 s`,
    kind: "cancel",
    argv: ["sh", "-c", `trap '' TERM; echo RESULT_LINE; sleep ${LIFE_S} & echo $$ $! >> "$BENCH_PIDS"; wait`],
    processes: 2
  },
  {
    id: "setsid-escapee",
    title: `setsid escapee holding stdout after printing RESULT_LINE (leader exits 0 at 0.1 s, escapee lives ${LIFE_S} s)`,
    kind: "complete",
    argv: [
      "sh",
      "-c",
      `setsid sh -c 'echo $$ >> "$BENCH_PIDS"; echo RESULT_LINE; exec sleep ${LIFE_S}' & sleep 0.1; echo $$ >> "$BENCH_PIDS"; exit 0`
    ],
    processes: 2
  },
  {
    id: "unread-stdout",
    title: "1 MiB on stdout that the caller never reads (only the exit code is wanted)",
    kind: "exitcode",
    argv: ["sh", "-c", `echo $$ >> "$BENCH_PIDS"; exec head -c 1048576 /dev/zero`],
    processes: 1
  },
  {
    id: "nested-tree",
    title: `3×2 nested tree (15 processes, each sleep ${LIFE_S}), cancelled at 1 s`,
    kind: "cancel",
    argv: ["sh", tree, "3", String(LIFE_S), "root"],
    processes: 15
  }
]

interface RunOutcome {
  /** What the caller received on stdout (undefined: not asked for, `exitcode` cases). */
  readonly output: string | undefined
  readonly detail: string
}

interface Impl {
  readonly id: string
  readonly name: string
  /** How each kind of case is called, for the docs. */
  readonly how: Record<Kind, string>
  readonly run: (c: Case, env: Record<string, string>) => Promise<RunOutcome>
}

const quiet = Logger.minimumLogLevel(LogLevel.None)

const describeStatus = (s: Process.ExitStatus | undefined) =>
  s === undefined ? "no exit status" : s._tag === "Exited" ? `exit ${s.code}` : `killed by ${s.signal}`

const describeReport = (r: Process.TeardownReport) => {
  const steps = r.steps.filter((s) => s.step !== "drain" || s.outcome !== "done")
    .map((s) => `${s.step} ${s.durationMs} ms${s.outcome === "escalated" ? " (escalated)" : ""}`)
  return `teardown: ${steps.length === 0 ? "nothing left to signal" : steps.join(" → ")}; survivors ${r.survivors.length}`
}

const troupeProcess: Impl = {
  id: "troupe-process",
  name: "troupe `Process`",
  how: {
    cancel: "`Process.spawn` in a scope, stdout streamed, `handle.exit` under `Effect.timeoutOption(1 s)`, scope closed (default bounds)",
    complete: "`Process.run`",
    exitcode: "`Process.spawn` in a scope, `handle.exit`, stdout never consumed"
  },
  run: (c, extra) => {
    const [command, ...args] = c.argv
    const env = { ...process.env, ...extra }
    let out = ""
    const collect = (s: Stream.Stream<Uint8Array>) =>
      Stream.runForEach(Stream.decodeText(s), (t) => Effect.sync(() => (out += t)))
    const program: Effect.Effect<RunOutcome, unknown> = c.kind === "complete"
      ? Effect.map(Process.run({ command, args, env }), (r) => {
        const grace = r.report.steps.find((s) => s.step === "post-exit-grace")?.durationMs ?? 0
        return {
          output: r.stdout,
          detail: `${describeStatus(r.status)}; ${describeReport(r.report)}; leader exit → return ${grace + r.report.durationMs} ms`
        }
      })
      : Effect.gen(function*() {
        const [handle, exit] = yield* Effect.scoped(Effect.gen(function*() {
          const h = yield* Process.spawn({ command, args, env })
          if (c.kind === "cancel") yield* Effect.fork(collect(h.stdout))
          const exit = yield* (c.kind === "cancel" ? Effect.timeoutOption(h.exit, CANCEL_MS) : Effect.asSome(h.exit))
          return [h, exit] as const
        }))
        const report = yield* handle.done
        return {
          output: c.kind === "cancel" ? out : undefined,
          detail: `${Option.isNone(exit) ? "cancelled" : describeStatus(exit.value)}; ${describeReport(report)}`
        }
      })
    return Effect.runPromise(program.pipe(Effect.provide(quiet)))
  }
}

/** The same `Command` code against a given `CommandExecutor` layer. */
const commandApi = (
  id: string,
  name: string,
  layer: Layer.Layer<CommandExecutor>
): Impl & { readonly runtime: ManagedRuntime.ManagedRuntime<CommandExecutor, never> } => {
  const runtime = ManagedRuntime.make(Layer.mergeAll(layer, quiet))
  return {
    id,
    name,
    runtime,
    how: {
      cancel: "`executor.start(cmd)` in a scope, stdout streamed, `proc.exitCode` under `Effect.timeoutOption(1 s)`, scope closed",
      complete: "`Command.string(cmd)`",
      exitcode: "`Command.exitCode(cmd)`"
    },
    run: (c, extra) => {
      const cmd = Command.make(...c.argv).pipe(Command.env(extra))
      let out = ""
      const program: Effect.Effect<RunOutcome, unknown, CommandExecutor> = c.kind === "complete"
        ? Effect.map(Command.string(cmd), (s) => ({ output: s, detail: "" }))
        : c.kind === "exitcode"
        ? Effect.map(Command.exitCode(cmd), (code) => ({ output: undefined, detail: `exit ${code}` }))
        : Effect.scoped(Effect.gen(function*() {
          const ex = yield* CommandExecutor
          const proc = yield* ex.start(cmd)
          yield* Effect.fork(Stream.runForEach(Stream.decodeText(proc.stdout), (t) => Effect.sync(() => (out += t))))
          const code = yield* Effect.timeoutOption(proc.exitCode, CANCEL_MS)
          return Option.isNone(code) ? "cancelled" : `exit ${code.value}`
        })).pipe(Effect.map((detail) => ({ output: out, detail })))
      return runtime.runPromise(program)
    }
  }
}

const troupeExecutor = commandApi("troupe-executor", "troupe `CommandExecutor.layer`", TroupeExecutor.layer)
const nodeExecutor = commandApi(
  "effect-node-executor",
  "`@effect/platform` NodeCommandExecutor",
  NodeCommandExecutor.layer.pipe(Layer.provide(NodeFileSystem.layer))
)

const execaImpl: Impl = {
  id: "execa",
  name: "execa 9",
  how: {
    cancel: `\`execa(…, { timeout: 1000, forceKillAfterDelay: ${EXECA_FORCE_KILL_MS}, cleanup: true, reject: false })\``,
    complete: `\`execa(…, { forceKillAfterDelay: ${EXECA_FORCE_KILL_MS}, cleanup: true, reject: false })\``,
    exitcode: `\`execa(…, { forceKillAfterDelay: ${EXECA_FORCE_KILL_MS}, cleanup: true, reject: false })\` (buffers output by default)`
  },
  run: async (c, extra) => {
    const [command, ...args] = c.argv
    const r = await execa(command, args, {
      env: extra,
      cleanup: true,
      forceKillAfterDelay: EXECA_FORCE_KILL_MS,
      reject: false,
      ...(c.kind === "cancel" ? { timeout: CANCEL_MS } : {})
    })
    const status = r.exitCode !== undefined ? `exit ${r.exitCode}` : `killed by ${r.signal ?? "?"}`
    return {
      output: c.kind === "exitcode" ? undefined : String(r.stdout),
      // execa's message, without the command line it appends.
      detail: `${status}${r.timedOut ? `; timedOut ("${(r.shortMessage ?? "").split("\n")[0]!.replace(/: \S*sh .*$/, "")}")` : ""}`
    }
  }
}

const nodeImpl: Impl = {
  id: "node",
  name: "Node `child_process`",
  how: {
    cancel: "`spawn(…, { timeout: 1000, killSignal: \"SIGKILL\" })`, stdout read, await `'close'`",
    complete: "`spawn(…)`, stdout read, await `'close'`",
    exitcode: "`spawn(…)`, stdout not read, await `'close'`"
  },
  run: (c, extra) =>
    new Promise((resolve, reject) => {
      const [command, ...args] = c.argv
      const child = spawn(command, args, {
        env: { ...process.env, ...extra },
        stdio: ["ignore", "pipe", "pipe"],
        ...(c.kind === "cancel" ? { timeout: CANCEL_MS, killSignal: "SIGKILL" as const } : {})
      })
      let out = ""
      if (c.kind !== "exitcode") {
        child.stdout.setEncoding("utf8").on("data", (t: string) => (out += t))
        child.stderr.resume()
      }
      child.once("error", reject)
      child.once("close", (code, signal) =>
        resolve({ output: c.kind === "exitcode" ? undefined : out, detail: code !== null ? `exit ${code}` : `killed by ${signal}` }))
    })
}

const impls: ReadonlyArray<Impl> = [troupeProcess, troupeExecutor, nodeExecutor, execaImpl, nodeImpl]

interface AttemptResult {
  readonly caseId: string
  readonly impl: string
  /** Not run: the module's time budget was spent (the table says so). */
  readonly skipped?: true
  readonly returned: boolean
  /** From the call to its return (or to the bound). */
  readonly ms: number
  readonly failed: string | undefined
  /** RESULT_LINE reached the caller (null: the case does not read stdout). */
  readonly outputKept: boolean | null
  readonly detail: string
  /** Fixture processes alive when the call returned (or at the bound). */
  readonly leftPids: ReadonlyArray<number>
  /** Of those, alive 1 s later still (before the bench kills anything; for a hang: = leftPids). */
  readonly leftAfter1sPids: ReadonlyArray<number>
  /** Of those, still alive 3 s after the bench SIGKILLed them (must be none). */
  readonly survivedCleanup: ReadonlyArray<number>
  /** For a hang: ms from the bench's cleanup kill to the call finally returning (null: still stuck after 3 s). */
  readonly returnedAfterCleanupMs: number | null | undefined
  /** Every fixture process the bench knew of (pid file + marker scan). */
  readonly fixturePids: number
}

const dir = mkdtempSync(join(tmpdir(), "troupe-bench-"))

const attempt = async (c: Case, impl: Impl): Promise<AttemptResult> => {
  const mark = randomUUID()
  const pidFile = join(dir, `${c.id}-${impl.id}-${mark}`)
  const env = { [MARK]: mark, BENCH_PIDS: pidFile }
  const t0 = now()
  const call = impl.run(c, env).then(
    (r) => ({ ...r, failed: undefined as string | undefined, ms: now() - t0 }),
    (e: unknown) => ({ output: undefined, detail: "", failed: String(e).split("\n")[0], ms: now() - t0 })
  )
  const r = await within(call, BOUND_MS)
  const tEnd = now()
  const known = new Set([...readPids(pidFile), ...markedProcesses(MARK, mark)])
  const left = [...known].filter((p) => !isDead(p))
  // Left at return may just be dying (a group SIGTERM the caller did not wait for): look again 1 s later.
  let leftAfter1s = left
  if (left.length > 0 && r !== undefined) {
    await sleepMs(1000)
    leftAfter1s = left.filter((p) => !isDead(p))
  }
  killAll(left)
  const survived = await awaitDead(left, 3000)
  let returnedAfterCleanupMs: number | null | undefined
  if (r === undefined) {
    const late = await within(call, 3000)
    returnedAfterCleanupMs = late === undefined ? null : round(now() - tEnd, 0)
  }
  // Anything the pid file missed and the first scan raced with.
  const residue = markedProcesses(MARK, mark)
  killAll(residue)
  await awaitDead(residue, 2000)
  for (const p of [...readPids(pidFile), ...residue]) known.add(p)
  const outcome = r?.value
  return {
    caseId: c.id,
    impl: impl.id,
    returned: r !== undefined,
    ms: round(outcome?.ms ?? BOUND_MS, 0),
    failed: outcome?.failed,
    outputKept: c.kind === "exitcode" ? null : outcome === undefined ? false : (outcome.output ?? "").includes("RESULT_LINE"),
    detail: outcome?.detail ?? "",
    leftPids: left,
    leftAfter1sPids: leftAfter1s,
    survivedCleanup: survived,
    returnedAfterCleanupMs,
    fixturePids: known.size
  }
}

const skipped = (c: Case, impl: Impl): AttemptResult => ({
  caseId: c.id,
  impl: impl.id,
  skipped: true,
  returned: false,
  ms: 0,
  failed: undefined,
  outputKept: null,
  detail: "",
  leftPids: [],
  leftAfter1sPids: [],
  survivedCleanup: [],
  returnedAfterCleanupMs: undefined,
  fixturePids: 0
})

const main = async () => {
  const started = now()
  const plan = cases.flatMap((c) => impls.map((impl) => [c, impl] as const))
  const attempts: Array<AttemptResult> = quick
    ? await Promise.all(plan.map(([c, impl]) => attempt(c, impl)))
    : []
  if (!quick) {
    for (const [c, impl] of plan) {
      if (now() - started > BUDGET_MS) attempts.push(skipped(c, impl))
      else attempts.push(await attempt(c, impl))
    }
  }
  await Promise.all([troupeExecutor.runtime, nodeExecutor.runtime].map((rt) => within(rt.dispose(), 2000)))
  rmSync(dir, { recursive: true, force: true })
  await emit({
    module: "hostile",
    mode: capabilities.mode,
    concurrent: quick,
    lifeS: LIFE_S,
    boundMs: BOUND_MS,
    cancelMs: CANCEL_MS,
    cases: cases.map(({ argv, id, kind, processes, title }) => ({
      id,
      title,
      kind,
      processes,
      argv: argv.map((a) => (a === tree ? "bench/fixtures/tree.sh" : a))
    })),
    impls: impls.map(({ how, id, name }) => ({ id, name, how })),
    attempts,
    wallMs: now() - started
  })
}

main().catch((e: unknown) => emit({ module: "hostile", error: String(e instanceof Error ? e.stack : e) }))
