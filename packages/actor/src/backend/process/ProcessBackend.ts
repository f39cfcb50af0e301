/**
 * The process backend: one Node process per actor, started through `@troupe/process` (its own
 * process group, event-driven exit, the termination ladder as finalizer, output always drained).
 *
 * The child's stdout/stderr are forwarded line by line to this process's `Logger`, annotated
 * with the actor's name and stream; the last stderr lines are kept for boot-failure reports.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as LadderBounds from "@troupe/process/Bounds"
import * as Process from "@troupe/process/Process"
import { ActorFailure, SpawnOptionUnsupported } from "../../Errors.js"
import { actorEnv, type LaunchedActor, type LaunchRequest, type SpawnBackend, type SpawnOptions } from "../../SpawnBackend.js"
import { childHugepages, childPrefault } from "../../TroupeConfig.js"
import { actorOutput } from "../lines.js"
import { bundleLoaderPath, childCommand, defaultStrategy, type EntryStrategy } from "./entry.js"
import { withHugepages } from "./malloc.js"
import { withPrefault } from "./prefault.js"
import { snapshotPending } from "./snapshot.js"
import * as ChildArgs from "../../internal/childArgs.js"

export type { EntryStrategy } from "./entry.js"

const describeExit = (s: Process.ExitStatus): string => (s._tag === "Exited" ? `exited ${s.code}` : `signaled ${s.signal}`)

/**
 * The Node flags of a child with `options`: `execArgv`, then `--max-old-space-size` for
 * `resourceLimits.maxOldGenerationSizeMb`, then `--inspect=127.0.0.1:0` for `inspect`. Fails
 * with `SpawnOptionUnsupported` for a resource limit a process cannot be given exactly.
 */
export const nodeFlags = (actor: string, options: SpawnOptions | undefined): Effect.Effect<Array<string>, SpawnOptionUnsupported> =>
  Effect.suspend(() => {
    const flags = [...(options?.execArgv ?? [])]
    const limits = options?.resourceLimits ?? {}
    for (const [key, value] of Object.entries(limits)) {
      if (value === undefined) continue
      if (key !== "maxOldGenerationSizeMb") {
        return Effect.fail(new SpawnOptionUnsupported({
          actor,
          backend: "process",
          option: `resourceLimits.${key}`,
          reason: "a process takes only maxOldGenerationSizeMb (as --max-old-space-size); give other V8 flags in execArgv, or use the worker backend"
        }))
      }
      flags.push(`--max-old-space-size=${value}`)
    }
    if (options?.inspect === true) flags.push("--inspect=127.0.0.1:0")
    return Effect.succeed(flags)
  })
export const make = (options: { readonly entry?: EntryStrategy } = {}): SpawnBackend => ({
  name: "process",
  honours: ["env", "cwd", "execArgv", "resourceLimits", "inspect"],
  launch: (request: LaunchRequest) =>
    Effect.gen(function*() {
      const flags = yield* nodeFlags(request.name, request.options)
      const rt = yield* Effect.runtime<never>()
      const { out: outLines, err: errLines, tail } = actorOutput(rt, {
        name: request.name,
        id: request.id,
        inspect: request.options?.inspect === true
      })
      const specAtLaunch = request.spec !== undefined && request.spec.secret === null
      const env = actorEnv(request.options, {
        TROUPE_ACTOR: request.id,
        TROUPE_LOG_LEVEL: request.logLevel,
        // Read once and removed by the child (host.ts); /proc/<pid>/environ is the owner's only.
        ...(request.bootKey !== undefined ? { TROUPE_BOOT_KEY: request.bootKey } : {}),
        // The spawn spec at launch, when it carries no secret (the tree's secret would stay readable
        // in /proc/<pid>/environ for the child's life): no `SpawnSpec` message to wait for.
        ...(specAtLaunch ? { [ChildArgs.spawnSpecVar]: JSON.stringify(request.spec) } : {})
      })
      // The private spawn variables come from here only: one inherited or given in `env` is dropped.
      if (request.bootKey === undefined) delete env["TROUPE_BOOT_KEY"]
      if (!specAtLaunch) delete env[ChildArgs.spawnSpecVar]
      const hugepages = yield* childHugepages.pipe(Effect.mapError((e) => new ActorFailure({ actor: request.name, reason: `${e}` })))
      if (hugepages) withHugepages(env)
      const prefault = yield* childPrefault.pipe(Effect.mapError((e) => new ActorFailure({ actor: request.name, reason: `${e}` })))
      if (prefault) withPrefault(env)
      // From the bundle's V8 startup snapshot for these flags (entry.ts, snapshot.ts), unless
      // NODE_OPTIONS adds flags of its own or the child is inspected: a snapshot is built under the
      // child's flags, and `--inspect-brk` would hold that build until its timeout.
      const inspected = request.options?.inspect === true || flags.some((f) => /^--(inspect|debug)/.test(f))
      const snapshotFlags = (env["NODE_OPTIONS"] ?? "").trim() === "" && !inspected ? flags : null
      const cmd = yield* childCommand(request.implementation.moduleUrl, options.entry ?? defaultStrategy(), snapshotFlags).pipe(
        Effect.mapError((e) => new ActorFailure({ actor: request.name, reason: `cannot build the child entry: ${e}` }))
      )
      const childArgs = ChildArgs.encode(request, process.pid)
      const ladder = request.ladder ?? (yield* LadderBounds.Bounds)
      const nodeArgs = cmd.snapshotArgs ?? [...flags, ...cmd.args]
      const handle = yield* Process.spawn({
        command: process.execPath,
        args: [...nodeArgs, "--troupe-child", childArgs],
        env,
        ...(request.options?.cwd !== undefined ? { cwd: request.options.cwd } : {}),
        bounds: ladder,
        stdout: { onChunk: outLines, onEnd: () => outLines.flush() },
        stderr: { onChunk: errLines, onEnd: () => errLines.flush() }
      }).pipe(Effect.mapError((e) => new ActorFailure({ actor: request.name, reason: `spawn failed: ${e.message}` })))
      // Both outputs at EOF too (their last lines, newline or not, handed on; bounded by the drain
      // grace), so a boot failure's stderr tail has the child's last words. No fiber per wait.
      const drained = (s: Process.ExitStatus, ms: number) => Effect.as(handle.outputEnded(ms), describeExit(s))
      const launched: LaunchedActor = {
        pid: handle.pid,
        kind: "process",
        exited: Effect.flatMap(handle.exit, (s) => drained(s, ladder.drainGraceMs)),
        exitedWithin: (ms) =>
          Effect.suspend(() => {
            const t0 = Date.now()
            return Effect.flatMap(handle.exitWithin(ms), (s) =>
              Option.isNone(s)
                ? Effect.succeedNone
                : Effect.asSome(drained(s.value, Math.min(ladder.drainGraceMs, Math.max(0, ms - (Date.now() - t0))))))
          }),
        hasExited: () => handle.exitStatus() !== undefined,
        terminate: (reason, options) => Effect.asVoid(handle.terminate(reason, options?.force === true ? "SIGKILL" : undefined)),
        stderrTail: tail.text,
        specDelivered: specAtLaunch
      }
      return launched
    })
})

/**
 * What the children of an implementation start from (`prepare`): `"snapshot"`, its bundle's V8
 * startup snapshot (the runtime already loaded); `"bundle"`, the bundle and its code cache, with
 * `snapshotPending` when a snapshot will be built once one child of the bundle has exited cleanly
 * (it is built from the code cache that exit writes: the bytecode of a whole actor life); or
 * `"module"`, the module as it is (the `loader` strategy, or a JavaScript module imported directly).
 */
export interface PreparedEntry {
  readonly startsFrom: "snapshot" | "bundle" | "module"
  readonly snapshotPending: boolean
}

/**
 * Build (or check) the child entry of `implementation` now, so a later `start` does not pay for
 * it (bundling takes seconds on a cold cache; see `entry.ts`), and build its startup snapshot if
 * its code cache is complete. Succeeds with what its children start from; to have them start
 * from the snapshot, start one actor and end it cleanly while `snapshotPending`, then `prepare`
 * again. `options.entry`: the entry strategy (default `TROUPE_CHILD_ENTRY`'s); `options.execArgv`:
 * the Node flags the children will be started with (each set has its own snapshot; default
 * none). Fails with why the entry cannot be built.
 */
export const prepare = (
  implementation: { readonly moduleUrl: string },
  options: { readonly entry?: EntryStrategy; readonly execArgv?: ReadonlyArray<string> } = {}
): Effect.Effect<PreparedEntry, string> => {
  const execArgv = options.execArgv ?? []
  return Effect.map(childCommand(implementation.moduleUrl, options.entry ?? defaultStrategy(), execArgv), (cmd): PreparedEntry => {
    if (cmd.snapshotArgs !== undefined) return { startsFrom: "snapshot", snapshotPending: false }
    // A `.cjs` bundle runs through load-bundle.cjs; a `.mjs` one (top-level await) as it is, never from a snapshot.
    if (cmd.args[0] === bundleLoaderPath && cmd.args[1] !== undefined) return { startsFrom: "bundle", snapshotPending: snapshotPending(cmd.args[1], execArgv) }
    if (cmd.args.length === 1 && cmd.args[0]!.endsWith(".mjs")) return { startsFrom: "bundle", snapshotPending: false }
    return { startsFrom: "module", snapshotPending: false }
  })
}

/** The default process backend (entry strategy from `TROUPE_CHILD_ENTRY`, default `bundle`). */
export const backend: SpawnBackend = make()
