/**
 * The forkserver backend: actors are Node processes started by a spawner process (`server.cjs`,
 * one per runtime, started on first use and again after it died) that keeps child runtimes warm
 * — the runtime and the actor's module loaded (`warm-entry.cjs`), waiting for their spawn spec —
 * and hands one out per `start`, then refills (`Bounds.ForkserverBounds`). Node cannot fork(2)
 * a running runtime: "forkserver" means the server is the actors' OS parent and they are warm
 * before they are asked for. A module's first actor (and one with Node flags of its own:
 * `execArgv`, `resourceLimits`, `inspect`; and one whose `env` or `cwd` differs from what the
 * server was started with, since a warm child loaded the module under those: `Client.wouldDiffer`)
 * starts cold; after a cold hand-out the server waits
 * `coldRefillDelayMs` before warming the next child for that module, so the two boots do not
 * share the cores. While no server is up (a new root, or after the server died), `coldStart:
 * "direct"` (the default) starts actors as the process backend does and, `coldRefillDelayMs`
 * later, the server in the background, which then warms their entries: a cold root spawns as
 * fast as the process backend.
 * The server starts without `NODE_EXTRA_CA_CERTS` (Node reads that file at every start, ~35 ms
 * here, and the server makes no TLS connection); the children get it back.
 *
 * This runtime is not the actors' OS parent: it waits for an actor's exit with a pidfd
 * (pidfd_open(2) works on any process; `Liveness.awaitExit`) and ends it with the one process
 * ladder (`@troupe/process` `Ladder.run`, same bounds as the process backend: its process group,
 * pidfd_send_signal). Its exit status comes from the server. Output reaches this runtime's
 * `Logger` as with the process backend, relayed by the server (and drained, bounded, at exit).
 *
 * - Forkserver death: its actors get their parent-death SIGTERM (armed by the child runtime)
 *   and, from here, the ladder's SIGKILL after `terminateGraceMs`; warm children see their spec
 *   channel close and exit. The next `start` starts a new server.
 * - This runtime's death: the server's stdin reaches EOF and it ends every child (SIGTERM,
 *   SIGKILL after `terminateGraceMs`) before it exits; the actors also lose their channel here.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as LadderBounds from "@troupe/process/Bounds"
import type { ExitStatus } from "@troupe/process/ExitStatus"
import * as Ladder from "@troupe/process/Ladder"
import * as Liveness from "@troupe/process/Liveness"
import { Forkserver, type ForkserverBounds } from "../../Bounds.js"
import { ActorFailure } from "../../Errors.js"
import { actorEnv, type LaunchedActor, type LaunchRequest, type SpawnBackend } from "../../SpawnBackend.js"
import { actorOutput } from "../lines.js"
import { childCommand, defaultStrategy, type EntryStrategy, oneFileBundle, oneFileOnlyProcess } from "../process/entry.js"
import * as ProcessBackend from "../process/ProcessBackend.js"
import * as Client from "./client.js"
import * as ChildArgs from "../../internal/childArgs.js"

/** Node flags at the head of a child command (`--import tsx` of the loader strategy), then the script and its arguments. */
const splitCommand = (args: ReadonlyArray<string>): { flags: Array<string>; cmd: Array<string> } => {
  let i = 0
  while (i < args.length && args[i]!.startsWith("-")) i += args[i] === "--import" || args[i] === "--require" ? 2 : 1
  return { flags: args.slice(0, i), cmd: args.slice(i) }
}

const describe = (s: ExitStatus | undefined): string =>
  s === undefined ? "exited (status unknown: the forkserver is gone)" : s._tag === "Exited" ? `exited ${s.code}` : `signaled ${s.signal}`

/**
 * `coldStart: "direct"` with no server up: the actor starts as the process backend starts it;
 * `coldRefillDelayMs` later (so the boots do not share the cores) the server starts in the
 * background (in the backend's scope) and warms a child for this entry.
 */
const launchDirect = (
  servers: ReturnType<typeof Client.make>,
  scope: Scope.Scope,
  bounds: ForkserverBounds,
  direct: SpawnBackend,
  request: LaunchRequest,
  entry: { readonly flags: ReadonlyArray<string>; readonly cmd: ReadonlyArray<string> }
) =>
  Effect.gen(function*() {
    yield* Effect.sleep(Duration.millis(bounds.coldRefillDelayMs)).pipe(
      Effect.zipRight(servers.get),
      Effect.tap((server) => Effect.sync(() => server.warm(entry))),
      Effect.catchAll((reason) => Effect.logWarning(`forkserver: ${reason} (actors start directly until one is up)`)),
      // Its waits are bounded (`requestMs`) and interruptible: the runtime's close ends it at once.
      Effect.interruptible,
      Effect.forkIn(scope)
    )
    return yield* direct.launch(request)
  })

/** The launch of one actor through `servers`. */
const launch = (servers: ReturnType<typeof Client.make>, scope: Scope.Scope, bounds: ForkserverBounds, entry: EntryStrategy) => {
  const direct = ProcessBackend.make({ entry })
  return (request: LaunchRequest) =>
    Effect.gen(function*() {
      const fail = (reason: string) => new ActorFailure({ actor: request.name, reason })
      if (oneFileBundle) return yield* Effect.fail(fail(oneFileOnlyProcess("forkserver")))
      const flags = yield* ProcessBackend.nodeFlags(request.name, request.options)
      const command = yield* childCommand(request.implementation.moduleUrl, entry).pipe(
        Effect.mapError((e) => fail(`cannot build the child entry: ${e}`))
      )
      const { cmd, flags: entryFlags } = splitCommand(command.args)
      const up = servers.current()
      if (bounds.coldStart === "direct" && (up === undefined || up.isDead())) {
        return yield* launchDirect(servers, scope, bounds, direct, request, { flags: [...entryFlags, ...flags], cmd })
      }
      const ladder = request.ladder ?? (yield* LadderBounds.Bounds)
      const server = yield* servers.get.pipe(Effect.mapError(fail))
      const rt = yield* Effect.runtime<never>()
      const { out: outLines, err: errLines, tail } = actorOutput(rt, {
        name: request.name,
        id: request.id,
        inspect: request.options?.inspect === true
      })
      let spawned = false
      const outputEnded = yield* Deferred.make<void>()
      const status = yield* Deferred.make<ExitStatus | undefined>()
      const open = new Set<string>(["stdout", "stderr"])
      const endOutput = (stream: "stdout" | "stderr") => {
        if (!open.delete(stream)) return
        ;(stream === "stdout" ? outLines : errLines).flush()
        if (open.size === 0) Deferred.unsafeDone(outputEnded, Exit.void)
      }
      const events: Client.ActorEvents = {
        onOutput: (stream, chunk) => (stream === "stdout" ? outLines : errLines)(chunk),
        onEof: endOutput,
        onExit: (code, signal) =>
          Deferred.unsafeDone(status, Exit.succeed(code !== null ? { _tag: "Exited", code } : { _tag: "Signaled", signal: (signal ?? "SIGKILL") as NodeJS.Signals })),
        onServerGone: () => {
          // No more output or exit status will come: what was relayed is all there is.
          endOutput("stdout")
          endOutput("stderr")
          Deferred.unsafeDone(status, Exit.succeed(undefined))
          if (spawned) Runtime.runFork(rt)(terminate("the forkserver died", "SIGTERM", true))
        }
      }
      const childArgs = ChildArgs.encode(request, server.pid)
      const env = actorEnv(request.options, {
        TROUPE_ACTOR: request.id,
        TROUPE_LOG_LEVEL: request.logLevel,
        ...(request.bootKey !== undefined ? { TROUPE_BOOT_KEY: request.bootKey } : {})
      })

      // From the request to the finalizer, uninterruptible (the wait for the answer is bounded
      // and interruptible itself): an actor started meanwhile would have no finalizer to end it.
      // This process's working directory when none is given, as a process-backend child inherits
      // it (the server's may be older: it is this process's when the server started).
      const cwd = request.options?.cwd ?? process.cwd()
      const cold = Client.wouldDiffer(server, { env: request.options?.env, cwd })
      const pid = yield* server.spawn(request.id, { flags: [...entryFlags, ...flags], cmd, env, cwd, args: childArgs, spawn: request.spec, cold }, events).pipe(
        Effect.mapError((e) => fail(`spawn failed: ${e}`))
      )
      const leader: Liveness.ProcessRef = Liveness.ref(pid) ?? { pid, startTime: -1 }
      spawned = true
      let exitStatus: ExitStatus | undefined
      let exited = false
      yield* Deferred.await(status).pipe(Effect.tap((s) => Effect.sync(() => (exitStatus = s))), Effect.interruptible, Effect.forkScoped)
      // Exit: the pidfd of a process that is not our child; then the server's word on how it ended.
      const exitWait = Liveness.awaitExit(leader).pipe(
        Effect.zipRight(Deferred.await(status).pipe(Effect.timeoutOption(ladder.killGraceMs))),
        Effect.map((s) => (s._tag === "Some" ? s.value : undefined)),
        Effect.tap(() => Effect.sync(() => (exited = true))),
        Effect.interruptible
      )
      const exitedOnce = yield* Effect.cached(exitWait)
      yield* Effect.forkScoped(exitedOnce)
      const awaitOutput = (ms: number) =>
        Deferred.await(outputEnded).pipe(Effect.timeoutOption(ms), Effect.map((o) => o._tag === "Some"), Effect.interruptible)
      const target: Ladder.LadderTarget = {
        pgid: pid,
        leader,
        outputInodes: new Set(),
        outputOpen: () => open.size > 0,
        drain: awaitOutput,
        awaitEof: awaitOutput
      }
      const done = Deferred.unsafeMake<void>(undefined as any)
      let started = false
      // The ladder, once (a `force` while a gentle one runs SIGKILLs the group at once).
      function terminate(reason: string, startAt: "SIGINT" | "SIGTERM" | "SIGKILL", quiet = false): Effect.Effect<void> {
        return Effect.suspend(() => {
          if (started) {
            if (startAt === "SIGKILL") Liveness.signalGroup(pid, "SIGKILL")
            return Deferred.await(done)
          }
          started = true
          return Ladder.run(target, ladder, reason, () => exitStatus, [], startAt, { quietFirstRung: quiet }).pipe(
            Effect.ensuring(Deferred.done(done, Exit.void))
          )
        }).pipe(Effect.uninterruptible)
      }
      yield* Effect.addFinalizer((e) => terminate(Exit.isInterrupted(e) ? "interrupted" : "scope closed", "SIGINT"))
      const launched: LaunchedActor = {
        pid,
        kind: "process",
        exited: Effect.zipLeft(Effect.map(exitedOnce, describe), awaitOutput(ladder.drainGraceMs)),
        hasExited: () => exited,
        terminate: (reason, options) => terminate(reason, options?.force === true ? "SIGKILL" : "SIGINT"),
        stderrTail: tail.text,
        specDelivered: request.spec !== undefined
      }
      return launched
    }).pipe(Effect.uninterruptible)
}

/**
 * A forkserver backend whose server lives in the current scope (started on first `launch`).
 * `bounds`: `Bounds.ForkserverBounds` (over the `Bounds.Forkserver` reference, default
 * `defaultForkserverBounds`); `entry`: as the process backend's (`TROUPE_CHILD_ENTRY`).
 */
export const make = (
  options: { readonly bounds?: Partial<ForkserverBounds>; readonly entry?: EntryStrategy } = {}
): Effect.Effect<SpawnBackend, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const ladder = yield* LadderBounds.Bounds
    const bounds: ForkserverBounds = { ...(yield* Forkserver), ...options.bounds }
    const servers = Client.make(scope, bounds, ladder)
    return {
      name: "forkserver",
      honours: ["env", "cwd", "execArgv", "resourceLimits", "inspect"],
      launch: launch(servers, scope, bounds, options.entry ?? defaultStrategy())
    } satisfies SpawnBackend
  })

