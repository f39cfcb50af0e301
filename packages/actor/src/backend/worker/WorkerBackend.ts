/**
 * The worker backend: one `worker_threads` Worker per actor — the same process, its own V8
 * isolate, event loop and Effect runtime. The worker runs the same child runtime as a process
 * child (`backend/process/child.ts`, from the process backend's cached bundle, or through tsx
 * with `TROUPE_CHILD_ENTRY=loader`), so the boot protocol is unchanged: it connects back to the
 * parent's listener, handshakes, receives its `SpawnSpec`, binds its own listener, registers and
 * serves.
 *
 * - **pid**: a worker actor's `pid` is its thread's kernel id (tid; `/proc/<tid>` exists while
 *   the thread runs, `/proc/<pid>/task/<tid>` lists it). `process.pid` inside the actor is the
 *   parent's. Never signal it: kill(2) on a tid reaches the whole process.
 * - **Output**: the worker's stdout/stderr are read here (Node buffers them in the parent until
 *   read) and forwarded line by line to this thread's `Logger`, annotated like a process
 *   child's; an uncaught exception (the Worker's `error` event) is forwarded as stderr lines.
 * - **Exit**: `exited N` (`process.exit(N)` in a worker ends that worker only; an uncaught
 *   exception is `exited 1`) or `terminated` (by this backend). An exit before the handshake
 *   fails `start` at once, as for processes.
 * - **Teardown ("the ladder")**: the graceful cancel over IPC is the nursery's, as for processes;
 *   then `worker.terminate()` (V8 TerminateExecution: it stops even a busy synchronous loop),
 *   waited for at most `Bounds.Ladder.killGraceMs`; then the output drain (`drainGraceMs`).
 *   Each expired bound is logged. Processes the worker's thread started (actors or not: the
 *   bootstrap reports every spawn) that outlived it (a terminated worker runs no finalizer) get
 *   the process ladder from here — actor processes are already ending (their parent-death
 *   signal is armed for the thread), the others get SIGTERM; SIGKILL to what is left (group and
 *   descendants) after `terminateGraceMs` — and are reaped.
 * - Nothing process-wide runs in a worker child: no signal handlers, no prctl (parent-death
 *   signal, subreaper), no process title. Parent death is trivial: the worker dies with its
 *   process.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { isMainThread, MessageChannel, parentPort, Worker, workerData } from "node:worker_threads"
import * as LadderBounds from "@troupe/process/Bounds"
import * as ChildRegistry from "@troupe/process/ChildRegistry"
import * as Ladder from "@troupe/process/Ladder"
import * as Liveness from "@troupe/process/Liveness"
import { native } from "@troupe/process/Native"
import { readStat } from "@troupe/process/ProcessTable"
import { Bounds, limits } from "../../Bounds.js"
import { ActorFailure } from "../../Errors.js"
import { processChildPids } from "../../internal/runtime.js"
import { actorEnv, type LaunchedActor, type LaunchRequest, type SpawnBackend } from "../../SpawnBackend.js"
import * as PortTransport from "../../transport/PortTransport.js"
import { lineSplitter, tailKeeper } from "../lines.js"
import { bundleFor, defaultStrategy, type EntryStrategy, loaderEntryPath, oneFileBundle, oneFileOnlyProcess } from "../process/entry.js"
import { bootOf, isFromWorker, type WorkerBoot, type WorkerEntry } from "./boot.js"
import * as LostSpawns from "./lostSpawns.js"
import * as ChildArgs from "../../internal/childArgs.js"

export type { EntryStrategy } from "../process/entry.js"

export interface Options {
  /** How the worker loads the actor's module: `bundle` (default, from `TROUPE_CHILD_ENTRY`) or `loader`. */
  readonly entry?: EntryStrategy
  /**
   * How a worker actor starts its own children: `"worker"` (default: the whole tree runs in this
   * process) or `"process"` (its children are processes, torn down by the worker — or, when the
   * worker had to be terminated, by this backend).
   */
  readonly children?: "worker" | "process"
}

const here = dirname(fileURLToPath(import.meta.url))
const bootstrapPath = join(here, "worker-entry.mjs")

/** This thread is a worker actor (not the main thread, nor somebody else's worker). Asked when
 * needed, not at module load: a V8 startup snapshot of a child must not load worker_threads. */
let relayUpMemo: boolean | undefined
const relayUp = (): boolean => (relayUpMemo ??= !isMainThread && bootOf(workerData) !== undefined)

/** Workers started by this thread that have not exited yet. */
const live = new Set<Worker>()

/** How many workers this thread started are still running (tests: nothing may be left). */
export const liveWorkers = (): number => live.size

/** A process started in a worker that died is a child of this process no event loop waits for any more. */
const reapIfZombie = (pid: number, startTime: number): void => {
  const s = readStat(pid)
  if (native === undefined || s === undefined || s.state !== "Z" || s.ppid !== process.pid) return
  if (startTime !== 0 && s.startTime !== startTime) return
  try {
    native.waitPidNoHang(pid)
  } catch {
    // ECHILD: reaped meanwhile
  }
}

const entryOf = (request: LaunchRequest, strategy: EntryStrategy): Effect.Effect<WorkerEntry, ActorFailure> =>
  oneFileBundle
    ? Effect.fail(new ActorFailure({ actor: request.name, reason: oneFileOnlyProcess("worker") }))
    : strategy === "loader"
    ? Effect.succeed({ _tag: "loader", childEntry: loaderEntryPath })
    : bundleFor(request.implementation.moduleUrl).pipe(
      Effect.map((path): WorkerEntry => ({ _tag: "bundle", path })),
      Effect.mapError((e) => new ActorFailure({ actor: request.name, reason: `cannot build the child entry: ${e}` }))
    )

export const make = (options: Options = {}): SpawnBackend => ({
  name: "worker",
  // Not `cwd`: a worker shares its process's working directory (no `process.chdir` in workers).
  honours: ["env", "execArgv", "resourceLimits", "inspect"],
  launch: (request: LaunchRequest) =>
    Effect.gen(function*() {
      const strategy = options.entry ?? defaultStrategy()
      const children = options.children ?? "worker"
      const entry = yield* entryOf(request, strategy)
      const ladder = request.ladder ?? (yield* LadderBounds.Bounds)
      const actorBounds = yield* Bounds
      const { bootMs } = actorBounds
      const spawnOptions = request.options
      const rt = yield* Effect.runtime<never>()
      const log = (stream: "stdout" | "stderr") => (line: string) =>
        Runtime.runFork(rt)(Effect.logInfo(line).pipe(Effect.annotateLogs({ actor: request.name, stream })))
      const tail = tailKeeper()
      const onErrLine = log("stderr")
      const errLine = (line: string) => {
        tail.push(line)
        onErrLine(line)
      }

      const tid = yield* Deferred.make<number>()
      /** Completes once the worker exited and its output was drained (bounded). */
      const exitDone = yield* Deferred.make<string>()
      let exited: string | undefined
      let terminating = false
      /** Processes started in this worker's subtree: pid → start time. */
      const spawned = new Map<number, number>()
      const unreaped = new Set<number>()
      /** Those that are actors (they end by themselves when their thread does). */
      const actors = new Set<number>()
      /** Spawns announced and not yet reported, by the worker's sequence number. */
      const pending = new Map<number, LostSpawns.PendingSpawn>()
      const settle = (seq: number) => {
        if (pending.delete(seq)) ChildRegistry.settle()
      }

      // The actor channel: a MessageChannel, one end to the worker, the other served by the parent's runtime.
      const { port1, port2 } = new MessageChannel()
      const connection = yield* PortTransport.fromPort(port1, `worker ${request.name}`, limits(request.bounds))
      const boot: WorkerBoot = {
        args: ChildArgs.encode(request, process.pid),
        entry,
        // 15 bytes: `[name]`, or the name cut to fit.
        title: request.name.length <= 13 ? `[${request.name}]` : request.name.slice(0, 15),
        children,
        port: port2,
        ...(spawnOptions?.inspect === true ? { inspect: true } : {}),
        ...(request.spec !== undefined ? { spec: request.spec } : {})
      }
      const worker = yield* Effect.try({
        try: () =>
          new Worker(bootstrapPath, {
            workerData: { troupe: boot },
            transferList: [port2],
            argv: strategy === "loader" ? ["--troupe-module", request.implementation.moduleUrl] : [],
            env: actorEnv(spawnOptions, { TROUPE_ACTOR: request.id, TROUPE_LOG_LEVEL: request.logLevel }),
            // Not the parent's flags (a TypeScript loader, a test runner's): the bundle is plain JS.
            execArgv: [...(spawnOptions?.execArgv ?? [])],
            ...(spawnOptions?.resourceLimits !== undefined ? { resourceLimits: { ...spawnOptions.resourceLimits } } : {}),
            stdin: false,
            stdout: true,
            stderr: true
          }),
        catch: (e) => new ActorFailure({ actor: request.name, reason: `worker failed to start: ${String(e)}` })
      })
      live.add(worker)

      // Output: always read (unread worker output is buffered in this thread), line by line.
      const ended = (stream: NodeJS.ReadableStream, onLine: (line: string) => void) =>
        new Promise<void>((resolve) => {
          const split = lineSplitter(onLine)
          stream.on("data", (chunk: Uint8Array) => split(chunk))
          stream.on("end", () => {
            split.flush()
            resolve()
          })
          stream.on("close", () => resolve())
          stream.on("error", () => resolve())
        })
      const outputDone = Promise.all([ended(worker.stdout, log("stdout")), ended(worker.stderr, errLine)])

      worker.on("message", (m: unknown) => {
        if (!isFromWorker(m)) return
        switch (m.troupe) {
          case "tid":
            Deferred.unsafeDone(tid, Exit.succeed(m.tid > 0 ? m.tid : process.pid))
            return
          case "inspector":
            Runtime.runFork(rt)(
              Effect.logInfo(`actor ${request.name} (${request.id}): inspector listening on ${m.url}`).pipe(
                Effect.annotateLogs({ actor: request.name, inspector: m.url })
              )
            )
            return
          // Announcements are this thread's own business (sequence numbers are per worker): not relayed.
          case "spawning":
            pending.set(m.seq, { argv: m.argv, at: m.at })
            ChildRegistry.announce()
            return
          case "spawnFailed":
            settle(m.seq)
            return
          case "spawned":
            spawned.set(m.pid, m.startTime)
            unreaped.add(m.pid)
            processChildPids.add(m.pid) // a second SIGINT in Troupe.runMain kills its group too
            ChildRegistry.add(m.pid) // ours: subreaper mode must not reap it behind the worker's back
            if (m.seq === undefined) break
            settle(m.seq)
            if (relayUp()) parentPort?.postMessage({ troupe: "spawned", pid: m.pid, startTime: m.startTime })
            return
          case "actor":
            actors.add(m.pid)
            break
          case "reaped":
            unreaped.delete(m.pid)
            actors.delete(m.pid)
            processChildPids.delete(m.pid)
            ChildRegistry.remove(m.pid)
            break
        }
        // This thread is itself a worker actor: the thread above cleans up after it too.
        if (relayUp()) parentPort?.postMessage(m)
      })
      /** Why the worker died, when Node says (`ERR_WORKER_OUT_OF_MEMORY`: it reached its `resourceLimits`). */
      let died: string | undefined
      worker.on("error", (e: unknown) => {
        const code = (e as { code?: unknown } | null)?.code
        if (typeof code === "string" && code.startsWith("ERR_WORKER_")) died = code
        const text = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : `uncaught: ${String(e)}`
        for (const line of text.split("\n")) if (line.length > 0) errLine(line)
      })
      worker.on("exit", (code: number) => {
        exited = terminating ? "terminated" : `exited ${code}${died !== undefined ? ` (${died})` : ""}`
        live.delete(worker)
        const drained = new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), ladder.drainGraceMs)
          void outputDone.then(() => {
            clearTimeout(timer)
            resolve(true)
          })
        })
        void drained.then((complete) => {
          if (!complete) {
            Runtime.runFork(rt)(
              Effect.logWarning(`worker ${request.id}: output not drained within ${ladder.drainGraceMs} ms of its exit`)
            )
          }
          Deferred.unsafeDone(exitDone, Exit.succeed(exited!))
        })
      })

      // Processes started in the worker's subtree and not reaped by it (a terminated worker ran
      // no finalizer): the process ladder, from here. Actor processes saw their parent thread end
      // (parent-death signal, channel EOF) and are tearing themselves down; the others get
      // SIGTERM now. Whatever is left after `terminateGraceMs` is SIGKILLed with its group and
      // descendants. Once the worker is gone, they are reaped (no event loop of it is left to).
      const cleanupSubtree = Effect.gen(function*() {
        if (exited !== undefined && pending.size > 0) {
          // Spawned, never reported (terminated in between): found by argv and start time.
          const lost = LostSpawns.find([...pending.values()], (pid) => spawned.has(pid) || processChildPids.has(pid) || ChildRegistry.has(pid))
          for (const seq of [...pending.keys()]) settle(seq)
          for (const s of lost) {
            spawned.set(s.pid, s.startTime)
            unreaped.add(s.pid)
          }
          if (lost.length > 0) yield* Effect.logWarning(`worker ${request.id}: found ${lost.length} process(es) it started and never reported: ${lost.map((s) => s.pid).join(", ")}`)
        }
        const left = () =>
          [...unreaped].flatMap((pid) => {
            const ref = Liveness.ref(pid)
            return ref !== undefined && ref.startTime === spawned.get(pid) ? [ref] : []
          })
        const orphans = left()
        if (orphans.length > 0) {
          yield* Effect.logWarning(
            `worker ${request.id} (${exited ?? "running"}) left ${orphans.length} process(es) it started: ` +
              `${orphans.map((r) => r.pid).join(", ")}; SIGTERM (to those that are not actors), SIGKILL after ${ladder.terminateGraceMs} ms`
          )
          // The ladder on each (its own group when it leads one: every Process.spawn does). Actor
          // processes are already tearing themselves down: their first rung only waits.
          const reports = yield* Ladder.runAll(
            orphans.map((ref) => ({
              ...Ladder.processTarget(ref, readStat(ref.pid)?.pgrp === ref.pid),
              options: { quietFirstRung: actors.has(ref.pid) }
            })),
            ladder,
            `worker ${request.id} gone`,
            "SIGTERM"
          )
          const survivors = reports.flatMap((r) => r.survivors)
          if (survivors.length > 0) yield* Effect.logError(`worker ${request.id}: survivors after SIGKILL: ${survivors.join(", ")}`)
        }
        if (exited !== undefined) {
          for (const pid of unreaped) {
            reapIfZombie(pid, spawned.get(pid) ?? 0)
            processChildPids.delete(pid)
            ChildRegistry.remove(pid)
          }
        }
      })

      // The worker's ladder: terminate(), bounded; then what its subtree left behind.
      let teardown: Deferred.Deferred<void> | undefined
      const runTeardown = (reason: string) =>
        Effect.gen(function*() {
          if (exited === undefined) {
            terminating = true
            yield* Effect.logDebug(`worker ${request.id}: terminate() (${reason})`)
            const t0 = Date.now()
            worker.terminate().catch(() => {})
            const bound = ladder.killGraceMs + ladder.drainGraceMs
            const gone = yield* Deferred.await(exitDone).pipe(Effect.interruptible, Effect.timeoutOption(bound))
            if (Option.isNone(gone)) {
              yield* Effect.logError(
                `worker ${request.id} still running ${bound} ms after terminate() (stuck outside JavaScript, or starved ` +
                  `of CPU); not waiting longer: it is cleaned up when it exits, with this process at the latest`
              )
              yield* Deferred.await(exitDone).pipe(
                Effect.zipRight(Effect.suspend(() => Effect.logWarning(`worker ${request.id} exited ${Date.now() - t0} ms after terminate()`))),
                Effect.zipRight(cleanupSubtree),
                Effect.forkDaemon
              )
            }
          } else {
            yield* Deferred.await(exitDone).pipe(Effect.interruptible, Effect.timeoutOption(ladder.drainGraceMs))
          }
          yield* cleanupSubtree
        })
      const terminate = (reason: string): Effect.Effect<void> =>
        Effect.suspend(() => {
          if (teardown !== undefined) return Deferred.await(teardown)
          const done = Deferred.unsafeMake<void>(undefined as any)
          teardown = done
          return runTeardown(reason).pipe(Effect.ensuring(Deferred.succeed(done, undefined)))
        }).pipe(Effect.uninterruptible)
      yield* Effect.addFinalizer(() => terminate("scope closed"))

      // The thread id comes first (before the module loads); an exit before it is a boot failure.
      const first = yield* Effect.raceFirst(
        Deferred.await(tid).pipe(Effect.map(Option.some)),
        Deferred.await(exitDone).pipe(Effect.as(Option.none<number>()))
      ).pipe(Effect.timeoutOption(bootMs))
      if (Option.isNone(first)) {
        return yield* Effect.fail(new ActorFailure({ actor: request.name, reason: `worker did not start within ${bootMs} ms` }))
      }
      if (Option.isNone(first.value)) {
        return yield* Effect.fail(
          new ActorFailure({ actor: request.name, reason: "died before the handshake", exit: exited!, stderr: tail.text() })
        )
      }
      const launched: LaunchedActor = {
        pid: first.value.value,
        kind: "thread",
        exited: Deferred.await(exitDone),
        hasExited: () => exited !== undefined,
        terminate,
        stderrTail: () => tail.text(),
        specDelivered: request.spec !== undefined,
        connection
      }
      return launched
    })
})

/** The default worker backend (entry strategy from `TROUPE_CHILD_ENTRY`; children are workers). */
export const backend: SpawnBackend = make()
