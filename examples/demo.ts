/**
 * `pnpm demo`: content-hash a real directory tree with a supervised pool of actors.
 *
 *   pnpm demo                               # the repository's own node_modules (its real files)
 *   pnpm demo --dir ~/src --actors 4
 *   pnpm demo --fail-after 500              # one actor throws: one-cancels-all, clean teardown
 *
 * The root opens an `ActorPool` of N `Hasher` actors (examples/hashtree/Hasher.ts) and hands
 * them directories, a batch per task, each task to the first actor with a free slot; each walks
 * down from what it is given, hashing, until it is done or has hashed its budget of files, and
 * answers with one digest per subtree it walked whole (per directory, where it walked a directory
 * only in part) and the directories it did not get to (handed out in turn as new tasks). An actor
 * with nothing to do takes work from a busy one (work stealing: examples/hashtree/Parallel.ts).
 * The root folds the results into one Merkle-style digest, then checks it
 * against a single-process pass over the same tree, run in a new process (as a program without
 * actors would run it) and again in the root. After them (process backend), the actors' V8 startup
 * snapshot is built if it is still pending (see the end of `main`). Ctrl-C at any point tears
 * everything down (exit 130); a second Ctrl-C kills the actors outright.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { ActorFailure, Bounds, RemoteActorError, Troupe } from "@troupe/actor"
import * as ProcessBackend from "@troupe/actor/backend/process/ProcessBackend"
import { formatAddress } from "@troupe/actor/Protocol"
import { existsSync, statSync } from "node:fs"
import { availableParallelism } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { HasherLive } from "./hashtree/Hasher.js"
import { makeTimings, parallel, type ParallelResult } from "./hashtree/Parallel.js"
import { isEsbuildService, liveDescendants, liveThreads } from "./hashtree/ProcTree.js"
import { display, mb, mbPerSec, ProgressState } from "./hashtree/Progress.js"
import { freshProcess, type PassSummary, singleProcess, summary } from "./hashtree/SingleProcess.js"
import { int, ms, type Row, table } from "./hashtree/Summary.js"

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..")

const usage = `usage: pnpm demo [--dir PATH] [--actors N] [--backend process|worker|forkserver] [--fail-after K]
                 [--window N] [--batch N] [--budget N] [--throttle-ms MS]

  --dir PATH       tree to hash (default: this repository's node_modules/.pnpm, the real
                   files behind pnpm's symlinks)
  --actors N       actors in the nursery (default: CPU count, ${availableParallelism()} here)
  --backend NAME   how actors are started: process (default: a Node process each), worker
                   (a worker_threads Worker each, in this process) or forkserver (a Node
                   process each, started by this root's spawner process)
  --fail-after K   the first actor throws after K files (one-cancels-all demo)
  --window N       tasks in flight per actor (the pool's concurrency; default 2)
  --batch N        directories a task starts from (default 64)
  --budget N       files a task hashes before it answers and hands the rest of its walk back, a
                   file counting as 1 + its bytes / 22,000 (default 32768; 64 with --throttle-ms,
                   so a throttled walk shows its progress)
  --throttle-ms MS each actor pauses MS after each file (to watch, or Ctrl-C, a small tree)
  --json           after the report, one line \`DEMO_JSON {...}\` with its figures (bench/demo.ts reads it)
`

interface Args {
  readonly dir: string
  readonly actors: number
  readonly backend: "process" | "worker" | "forkserver"
  readonly failAfter: number | null
  readonly window: number
  readonly batch: number
  readonly budget: number
  readonly throttleMs: number
  readonly json: boolean
}

const die = (message: string): never => {
  process.stderr.write(`${message}\n\n${usage}`)
  process.exit(2)
}

const known = ["dir", "actors", "backend", "fail-after", "window", "batch", "budget", "throttle-ms"]

/** `1 actor`, `2 actors`. */
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const defaultDir = existsSync(join(repoRoot, "node_modules", ".pnpm"))
    ? join(repoRoot, "node_modules", ".pnpm")
    : join(repoRoot, "node_modules")
  const values: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === "--help" || a === "-h") {
      process.stdout.write(usage)
      process.exit(0)
    }
    if (a === "--") continue
    if (a.startsWith("-") && !a.startsWith("--")) die(`unknown option ${a}`)
    if (!a.startsWith("--")) die(`unexpected argument: ${a}`)
    const eq = a.indexOf("=")
    const key = eq >= 0 ? a.slice(2, eq) : a.slice(2)
    if (key === "json") {
      if (eq >= 0) die("--json takes no value")
      values[key] = "true"
      continue
    }
    if (!known.includes(key)) die(`unknown option --${key}`)
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i]
    if (value === undefined) die(`--${key} needs a value`)
    values[key] = value!
  }
  const int = (key: string, dflt: number, min: number): number => {
    const v = values[key]
    if (v === undefined) return dflt
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) die(`--${key} must be an integer >= ${min}, got ${v}`)
    return n
  }
  const dir = resolve(values["dir"] ?? defaultDir)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) die(`not a directory: ${dir}`)
  const backendName = values["backend"] ?? "process"
  if (backendName !== "process" && backendName !== "worker" && backendName !== "forkserver") die(`unknown backend: ${backendName}`)
  const backend = backendName as "process" | "worker" | "forkserver"
  return {
    dir,
    actors: int("actors", availableParallelism(), 1),
    backend,
    failAfter: values["fail-after"] === undefined ? null : int("fail-after", 0, 0),
    window: int("window", 2, 1),
    batch: int("batch", 64, 1),
    budget: int("budget", int("throttle-ms", 0, 0) > 0 ? 64 : 32_768, 0),
    throttleMs: int("throttle-ms", 0, 0),
    json: values["json"] === "true"
  }
}

const args = parseArgs(process.argv.slice(2))

/**
 * The longest a teardown may take with the default bounds: a context cancel's ack, then (if it
 * never comes) the actor's cancel ack, its exit, and the process ladder (SIGTERM grace, SIGKILL
 * grace, post-exit grace, output drain).
 */
const teardownBoundMs = (() => {
  const a = Bounds.defaultActorBounds
  const l = Bounds.Ladder.defaultLadderBounds
  return a.cancelAckMs + a.actorCancelAckMs + a.nurseryCancelMs + l.terminateGraceMs + l.killGraceMs + l.postExitGraceMaxMs +
    l.drainGraceMs
})()
/** A worker actor's pid is its thread id (in this process). */
const pidLabel = args.backend === "worker" ? "tid" : "pid"
/**
 * The hashers' Node flags (process backend): no optimizing compiler (TurboFan). A hasher's
 * JavaScript is glue between syscalls and the native sha256, and lives a few hundred ms: TurboFan
 * compiled ~60 ms of it per actor on V8's background threads, and with an actor per core those
 * threads take the cores from the actors (default tree, 2 cores, medians of 6: hashing 288 →
 * 268 ms). The single-process pass keeps V8's defaults: with a core to spare its JIT pays (320 →
 * 375 ms without it). Flagged children start from a startup snapshot of their own, as without
 * flags. The worker backend takes no V8 flags per thread, the forkserver starts flagged children
 * cold: neither gets them.
 */
const hasherFlags: ReadonlyArray<string> = args.backend === "process" ? ["--no-opt"] : []
/**
 * The Node flags this root was started with, but a module loader's (`--import tsx` when the test
 * suite runs this file as it is): the root's own. The single-process pass in a new process takes
 * none of them: it keeps V8's defaults, its best (336 ms against 390 ms under `--no-opt`).
 * `pnpm demo` starts the root with `--no-opt --max-semi-space-size=1` (package.json), through
 * troupe's program runner (the `troupe-node` bin of @troupe/actor): from a bundle with V8's code
 * cache, as the actors start (the single-process pass runs through it too), so that the runtime's
 * functions come compiled to the root's first spawn, calls and teardown (Node 20 keeps no code
 * cache for ES modules) and the root prints its first line ~0.23 s after it starts instead of ~1.76 s
 * through tsx (README, "Install in your project"):
 * - `--no-opt`: the root's JavaScript is glue as well (spawning, handing out tasks, folding
 *   answers), and TurboFan compiled it on V8's background threads while the actors booted and
 *   hashed, on the same 2 cores (default tree, 8 interleaved runs, spawn to teardown: 400 → 377 ms).
 * - `--max-semi-space-size=1` (MB; V8's default grows to 16): what loading the root leaves is
 *   promoted while it loads, so the scavenges during the spawn and the hashing copy little
 *   (default: one or two pauses of 10–25 ms there; capped: ~13 pauses, ~17 ms in all), and the
 *   root takes less CPU from the actors (spawn to teardown −2 to −16 ms in three interleaved runs
 *   of 8–10).
 * The pass in this root runs under all of them.
 */
const rootFlags: ReadonlyArray<string> = (() => {
  const own: Array<string> = []
  const argv = process.execArgv
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!
    if (/^--(import|require|loader|experimental-loader)=/.test(f)) continue
    else if (/^(--import|--require|-r|--loader|--experimental-loader)$/.test(f) && i + 1 < argv.length) i++
    else own.push(f)
  }
  return own
})()
const out = process.stdout
const tty = out.isTTY === true
const progress = new ProgressState()
const timings = makeTimings()
let progressHandle: { readonly stop: (clear?: boolean) => void } | undefined
let actorPids: ReadonlyArray<number> = []
let parallelResult: ParallelResult | undefined
/** The single-process pass in a new process (the reference) and again in this (warm) root. */
let singleResult: PassSummary | undefined
let warmResult: PassSummary | undefined
let runStartedAt = performance.now()

/** Log lines (the runtime's warnings, actors' output) go to stderr, without tearing the bar. */
const logger = Logger.make(({ annotations, logLevel, message }) => {
  const text = (Array.isArray(message) ? message : [message]).map((m) => (typeof m === "string" ? m : String(m))).join(" ")
  const actor = Option.getOrUndefined(HashMap.get(annotations, "actor"))
  const tag = typeof actor === "string" ? `${actor}: ` : ""
  process.stderr.write(`${tty ? "\r\x1b[2K" : ""}[${logLevel.label.toLowerCase()}] ${tag}${text}\n`)
})

const main = Effect.gen(function*() {
  out.write(
    `troupe demo: content-hashing ${args.dir}\n` +
      `  ${plural(args.actors, "actor")} (backend: ${args.backend}${hasherFlags.length > 0 ? `, Node flags ${hasherFlags.join(" ")}` : ""}), ${args.window} tasks of ${args.batch} directories in flight per actor` +
      `${args.failAfter === null ? "" : `, hasher-1 fails after ${args.failAfter} files`}\n` +
      (rootFlags.length > 0 ? `  root Node flags ${rootFlags.join(" ")} (the single-process pass in a new process keeps V8's defaults)\n` : "")
  )
  const registrar = (yield* Troupe.Troupe).registrarAddress
  if (registrar !== null) out.write(`  registrar: ${formatAddress(registrar)}   (in another shell: npx -y pnpm@10 exec troupe ps --registrar ${formatAddress(registrar)})\n`)
  runStartedAt = performance.now()
  parallelResult = yield* Effect.scoped(Effect.gen(function*() {
    progressHandle = yield* display(progress, { out, tty })
    return yield* parallel(
      {
        root: args.dir,
        actors: args.actors,
        window: args.window,
        batch: args.batch,
        budget: args.budget,
        throttleMs: args.throttleMs,
        failAfter: args.failAfter,
        execArgv: hasherFlags,
        progress,
        onSpawned: (actors) =>
          Effect.sync(() => {
            actorPids = actors.map((a) => a.pid)
            out.write(`${tty ? "\r\x1b[2K" : ""}actors up in ${ms(timings.spawnMs ?? 0)}: ${actors.map((a) => a.name).join(", ")}\n`)
            // Their pids (worker actors: thread ids), once, in the same order; scripts and the test suite read this line.
            out.write(`actor ${pidLabel}s: ${actorPids.join(" ")}\n`)
          })
      },
      timings
    )
  }))
  out.write(`single-process pass over the same tree, in a new process...\n`)
  singleResult = yield* freshProcess(args.dir)
  out.write(`...and again in this process, whose runtime code the JIT has compiled by now...\n`)
  warmResult = summary(yield* singleProcess(args.dir))
  // After everything is timed: the actors' startup snapshot, if it is pending. A new bundle's first
  // actors run from the bundle and write, at their clean exit, the code cache a snapshot is built
  // from; built now, the next run starts its actors from it (its spawn untouched by this build).
  if (args.backend === "process") yield* Effect.ignore(ProcessBackend.prepare(HasherLive, { execArgv: hasherFlags }))
})

// ---------------------------------------------------------------------------------------------
// Running, signals, and the report (printed after everything is closed, whatever the outcome).

let signal: NodeJS.Signals | null = null
let signalAt = 0

const fiber = Effect.runFork(
  main.pipe(
    Effect.provide(Troupe.layer({ backend: args.backend })),
    Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
    Logger.withMinimumLogLevel(LogLevel.Info)
  )
)

/**
 * A repeat of the signal within this long is the same Ctrl-C arriving twice: from the terminal
 * (to the whole foreground process group) and relayed by a wrapper (`tsx` relays the signals it
 * gets to the process it runs). Only a later one is a deliberate second press.
 */
const repeatWindowMs = 500

const onSignal = (sig: NodeJS.Signals) => {
  if (signal !== null) {
    if (performance.now() - signalAt < repeatWindowMs) return
    // A second, deliberate signal: no more patience. Kill what we started and go.
    process.stderr.write(`\n${sig} again: killing ${plural(actorPids.length, "actor")} now\n`)
    // Worker actors are threads of this process: they end with it (kill(2) on a tid would signal us).
    if (args.backend !== "worker") {
      for (const pid of actorPids) {
        try {
          process.kill(pid, "SIGKILL")
        } catch {}
      }
    }
    process.exit(sig === "SIGINT" ? 130 : 143)
  }
  signal = sig
  signalAt = performance.now()
  progressHandle?.stop()
  process.stderr.write(`${sig === "SIGINT" ? "^C " : ""}${sig}: cancelling every actor (press again to kill them now)\n`)
  fiber.unsafeInterruptAsFork(FiberId.none)
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)

/** The first actor error in a cause, for a readable report. */
const actorErrors = (cause: Cause.Cause<unknown>): ReadonlyArray<RemoteActorError | ActorFailure> => {
  const found: Array<RemoteActorError | ActorFailure> = []
  for (const e of [...Cause.failures(cause), ...Cause.defects(cause)]) {
    if (e instanceof RemoteActorError || e instanceof ActorFailure) found.push(e)
  }
  return found
}

const indent = (text: string, by: string) => text.split("\n").map((l) => by + l).join("\n")

const report = (exit: Exit.Exit<void, unknown>): number => {
  progressHandle?.stop()
  const descendants = liveDescendants(process.pid)
  const tooling = descendants.filter((p) => isEsbuildService(p.pid))
  const left = descendants.filter((p) => !tooling.includes(p))
  const leftActors = args.backend === "worker" ? liveThreads(actorPids) : actorPids.filter((pid) => left.some((p) => p.pid === pid))
  const rows: Array<Row> = []
  let code = 0
  const spawnRow: Row = ["spawn time (all actors ready)", timings.spawnMs === null ? "-" : ms(timings.spawnMs)]
  const teardownMs = signal !== null ? performance.now() - signalAt : timings.teardownMs
  const teardownRow: Row = [
    signal !== null
      ? `teardown time (${signal} → all reaped)`
      : Exit.isFailure(exit)
      ? "teardown time (failure → all reaped)"
      : "teardown time",
    teardownMs === null ? "-" : `${ms(teardownMs)} (bound ${ms(teardownBoundMs)})`
  ]
  const leftRow: Row = [
    "processes left",
    `${left.length}${left.length > 0 ? ` (${left.map((p) => `${p.pid}:${p.comm}`).join(", ")})` : ""}${
      tooling.length > 0 ? ` (+${tooling.length} esbuild service of the TS loader)` : ""
    }`
  ]
  const threadsRow: ReadonlyArray<Row> = args.backend === "worker"
    ? [["worker threads left", `${leftActors.length}${leftActors.length > 0 ? ` (tid ${leftActors.join(", ")})` : ""}`]]
    : []

  if (Exit.isSuccess(exit) && parallelResult !== undefined && singleResult !== undefined && warmResult !== undefined) {
    const par = parallelResult
    const one = singleResult
    const warm = warmResult
    const a = par.tree.digest()
    const hashMs = timings.hashMs ?? 0
    // From the start of the spawn to the pool closed (not to this report: it reads /proc and digests).
    const endToEnd = (timings.closedAt ?? performance.now()) - runStartedAt
    out.write(`\ndigest (${plural(args.actors, "actor")}):    ${a}\n`)
    out.write(`digest (single process): ${one.digest}\n`)
    if (a === one.digest && warm.digest === one.digest && par.tree.files === one.files && warm.files === one.files) {
      out.write(`digests match ✓\n\n`)
    } else {
      out.write(
        `DIGESTS DIFFER ✗ (actors: ${par.tree.files} files, single process: ${one.files} files, again in this process: ${warm.digest} ${warm.files} files)\n\n`
      )
      code = 1
    }
    rows.push(
      ["files", int(par.tree.files)],
      ["bytes", `${int(par.tree.bytes)} (${mb(par.tree.bytes)} MB)`],
      ...(par.tree.skipped.length > 0 ? [["unreadable files (skipped)", int(par.tree.skipped.length)] as Row] : []),
      ["wall time, hashing (actors)", ms(hashMs)],
      ["throughput (actors)", `${mbPerSec(par.tree.bytes, hashMs)} MB/s, ${int(par.tree.files / (hashMs / 1000))} files/s`],
      ["wall time, single process (a new process)", ms(one.ms)],
      ["throughput (single process)", `${mbPerSec(one.bytes, one.ms)} MB/s, ${int(one.files / (one.ms / 1000))} files/s`],
      ["speed-up (hashing)", `${(one.ms / hashMs).toFixed(2)}x`],
      [
        "CPU time, hashing (actors)",
        `${ms(par.rootCpuMs + par.perActor.reduce((n, p) => n + p.cpuMs, 0))} (root ${int(par.rootCpuMs)} + actors ${
          par.perActor.map((p) => int(p.cpuMs)).join(" + ")
        })`
      ],
      ["CPU time, single process", ms(one.cpuMs)],
      ["wall time incl. spawn + teardown", ms(endToEnd)],
      ["speed-up incl. spawn + teardown", `${(one.ms / endToEnd).toFixed(2)}x`],
      [
        `single process again, in this warm root${rootFlags.length > 0 ? " (its flags)" : ""}`,
        `${ms(warm.ms)} (CPU ${ms(warm.cpuMs)}): speed-up ${(warm.ms / hashMs).toFixed(2)}x, ${(warm.ms / endToEnd).toFixed(2)}x incl. spawn`
      ],
      spawnRow,
      teardownRow,
      ...par.perActor.map((p) =>
        [
          `  ${p.name} (${pidLabel} ${p.pid})`,
          `${int(p.files)} files, ${mb(p.bytes)} MB, busy ${Math.round((100 * p.busyMs) / Math.max(1, timings.hashMs ?? 0))}%`
        ] as Row
      ),
      leftRow,
      ...threadsRow
    )
    out.write(`${table(`troupe demo: ${plural(args.actors, "actor")} over ${args.dir}`, rows)}\n`)
    if (args.json) {
      const figures = {
        dir: args.dir, backend: args.backend, actors: args.actors, files: par.tree.files, bytes: par.tree.bytes,
        digestsMatch: code === 0, hashMs, endToEndMs: endToEnd, spawnMs: timings.spawnMs, teardownMs: timings.teardownMs,
        singleMs: one.ms, singleCpuMs: one.cpuMs, warmMs: warm.ms, rootCpuMs: par.rootCpuMs,
        perActor: par.perActor.map((p) => ({ files: p.files, bytes: p.bytes, busyMs: p.busyMs, cpuMs: p.cpuMs })),
        left: left.length + leftActors.length
      }
      out.write(`DEMO_JSON ${JSON.stringify(figures)}\n`)
    }
  } else {
    code = signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 1
    if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
      const errors = actorErrors(exit.cause)
      if (errors.length === 0) process.stderr.write(`\nthe run failed:\n${indent(Cause.pretty(exit.cause), "  ")}\n`)
      for (const e of errors) {
        if (e instanceof RemoteActorError) {
          const name = e.src.split("@")[0]
          process.stderr.write(
            `\nactor ${name} failed (${e.src}): ${e.type}: ${e.message}\n` +
              (e.relays.length > 0 ? `  relayed by: ${e.relays.join(" → ")}\n` : "") +
              `  remote stack:\n${indent(e.stack.length > 0 ? e.stack : "(none)", "    ")}\n`
          )
        } else {
          process.stderr.write(`\nactor ${e.actor} failed: ${e.message}\n`)
        }
      }
      process.stderr.write(`one-cancels-all: every actor was cancelled\n`)
    } else if (signal !== null) {
      process.stderr.write(`interrupted by ${signal}\n`)
    }
    rows.push(
      ["files hashed before the stop", int(progress.files)],
      ["bytes", `${int(progress.bytes)} (${mb(progress.bytes)} MB)`],
      ["wall time", ms(performance.now() - runStartedAt)],
      spawnRow,
      teardownRow,
      leftRow,
      ...threadsRow
    )
    out.write(`\n${table(`troupe demo: stopped (${signal ?? "actor failure"})`, rows)}\n`)
  }
  if (leftActors.length > 0 || left.length > 0) code = code === 0 ? 1 : code
  return code
}

fiber.addObserver((exit) => {
  const code = report(exit)
  process.exitCode = code
  // Everything we started is closed; do not wait for stray handles.
  setImmediate(() => process.exit(code))
})
