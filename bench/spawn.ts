/**
 * spawn → exit → teardown latency of a trivial command, per implementation, sequential runs
 * after a warm-up, interleaved round-robin (rotating the order each round) so load drift on a
 * shared machine hits every implementation alike.
 *
 * - raw `child_process.spawn` (stdio pipes, both drained), awaiting `'close'`;
 * - `@effect/platform` NodeCommandExecutor: `Command.exitCode` (deep imports: the
 *   platform-node barrel needs @effect/cluster);
 * - troupe `Process.run` (collects stdout/stderr; returns after the teardown report);
 * - troupe `CommandExecutor.layer` with the same `Command.exitCode`.
 *
 * Prints `BENCH_JSON {...}` (see lib.ts).
 */
import * as Command from "@effect/platform/Command"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as TroupeExecutor from "@troupe/process/CommandExecutor"
import { capabilities } from "@troupe/process/Native"
import * as Process from "@troupe/process/Process"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { spawn } from "node:child_process"
import { emit, now, quick, round, summarize } from "./lib.js"

const N = quick ? 12 : 40
const WARMUP = quick ? 3 : 5
/** Per command: stop adding rounds past this (a loaded machine); n is reported. */
const BUDGET_MS = quick ? 4000 : 14000
const MIN_ROUNDS = 5

const commands: ReadonlyArray<{ readonly label: string; readonly argv: readonly [string, ...Array<string>] }> = [
  { label: "/bin/true", argv: ["/bin/true"] },
  { label: "sh -c 'echo hi'", argv: ["sh", "-c", "echo hi"] }
]

const quiet = Logger.minimumLogLevel(LogLevel.None)
const nodeRuntime = ManagedRuntime.make(
  Layer.mergeAll(NodeCommandExecutor.layer.pipe(Layer.provide(NodeFileSystem.layer)), quiet)
)
const troupeRuntime = ManagedRuntime.make(Layer.mergeAll(TroupeExecutor.layer, quiet))

interface Impl {
  readonly name: string
  /** Runs the command once; resolves with extra figures (ms) to summarize, if any. */
  readonly run: (argv: readonly [string, ...Array<string>]) => Promise<Record<string, number>>
}

const raw: Impl = {
  name: "child_process.spawn (raw)",
  run: ([cmd, ...args]) =>
    new Promise((resolve, reject) => {
      const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] })
      c.stdout.resume()
      c.stderr.resume()
      c.once("error", reject)
      c.once("close", (code) => (code === 0 ? resolve({}) : reject(new Error(`exit ${code}`))))
    })
}

const nodeExecutor: Impl = {
  name: "@effect/platform NodeCommandExecutor",
  run: ([cmd, ...args]) => nodeRuntime.runPromise(Command.exitCode(Command.make(cmd, ...args))).then(() => ({}))
}

const troupeRun: Impl = {
  name: "troupe Process.run",
  run: ([cmd, ...args]) =>
    Effect.runPromise(Process.run({ command: cmd, args }).pipe(Logger.withMinimumLogLevel(LogLevel.None))).then(
      (r) => {
        if (r.report.survivors.length > 0) throw new Error(`survivors ${r.report.survivors.join(",")}`)
        const grace = r.report.steps.find((s) => s.step === "post-exit-grace")?.durationMs ?? 0
        return { afterExitMs: grace + r.report.durationMs }
      }
    )
}

const troupeExecutor: Impl = {
  name: "troupe CommandExecutor.layer",
  run: ([cmd, ...args]) => troupeRuntime.runPromise(Command.exitCode(Command.make(cmd, ...args))).then(() => ({}))
}

const impls = [raw, nodeExecutor, troupeRun, troupeExecutor]

const main = async () => {
  const started = now()
  const results = []
  for (const command of commands) {
    for (const impl of impls) for (let i = 0; i < WARMUP; i++) await impl.run(command.argv)
    const samples = new Map<string, Array<number>>(impls.map((i) => [i.name, []]))
    const extras = new Map<string, Map<string, Array<number>>>()
    const t0Command = now()
    for (let round = 0; round < N && (round < MIN_ROUNDS || now() - t0Command < BUDGET_MS); round++) {
      for (let k = 0; k < impls.length; k++) {
        const impl = impls[(round + k) % impls.length]!
        const t0 = now()
        const extra = await impl.run(command.argv)
        samples.get(impl.name)!.push(now() - t0)
        for (const [key, v] of Object.entries(extra)) {
          const m = extras.get(impl.name) ?? new Map<string, Array<number>>()
          extras.set(impl.name, m)
          m.set(key, [...(m.get(key) ?? []), v])
        }
      }
    }
    const rawMedian = summarize(samples.get(raw.name)!).median
    results.push({
      command: command.label,
      rows: impls.map((impl) => {
        const s = summarize(samples.get(impl.name)!)
        return {
          impl: impl.name,
          ...s,
          ratio: round(s.median / rawMedian, 2),
          extras: Object.fromEntries([...(extras.get(impl.name) ?? new Map<string, Array<number>>())].map(([k, v]) => [k, summarize(v)]))
        }
      })
    })
  }
  await nodeRuntime.dispose()
  await troupeRuntime.dispose()
  await emit({ module: "spawn", mode: capabilities.mode, n: N, warmup: WARMUP, budgetMs: BUDGET_MS, results, wallMs: now() - started })
}

main().catch((e: unknown) => emit({ module: "spawn", error: String(e instanceof Error ? e.stack : e) }))
