/**
 * The child side of boot (tractor's `_child.py` + `Actor._from_parent`), one runtime for every
 * backend; where it runs is described by a `Host` (`backend/process/host.ts`,
 * `backend/worker/host.ts`):
 *
 * 1. a process host arms the parent-death signal, names the process and handles SIGINT/SIGTERM
 *    (a worker does none of that: they are process-wide);
 * 2. reach the parent — a socket to its listener, or the `MessagePort` it handed over — and say
 *    `Hello{role: "child"}`;
 * 3. receive the `SpawnSpec` (which export to serve, transport, registrar, bounds), unless the
 *    backend handed it over at launch (`Host.spec`: the forkserver's spec channel);
 * 4. bind a listener, register with the registrar, answer `Ready{address}` (or `BootFailed`);
 * 5. serve until asked to end: `ActorCancel`, the parent channel's EOF (the parent died), a
 *    signal (processes), or the runtime's own shutdown request;
 * 6. tear down (own tasks and children, unregister, listener) and exit; a teardown that
 *    overruns `Bounds.parentDeathExitMs` exits anyway (code 70).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { type Implementation, isImplementation } from "../Actor.js"
import * as Backends from "../backend/registry.js"
import { defaultActorBounds, Ladder, parentWatchdogSlackMs } from "../Bounds.js"
import type { TransportError } from "../Errors.js"
import { type Aid, bootFailed, hello, type Message, MsgType, ready, type SpawnSpec } from "../Protocol.js"
import type { SpawnBackend } from "../SpawnBackend.js"
import type { Connection } from "../Transport.js"
import * as Channel from "./channel.js"
import { relayLogger } from "./logRelay.js"
import * as Runtime from "./runtime.js"
import { buildServices } from "./services.js"
import type { ChildArgs } from "./childArgs.js"
import { useBundleSourceMap } from "./stackmap.js"

/** Where a child runs and what that allows. */
export interface Host {
  readonly args: ChildArgs
  /** The bundle this code runs from (remote stacks are mapped through its source map). */
  readonly bundle: string | undefined
  readonly pid: number
  /** How this actor starts its own children by default. */
  readonly backend: SpawnBackend
  /**
   * This host's own variant of other named backends (a worker's `process` backend reports the
   * processes it starts to the parent thread); the rest come from `backend/registry.ts`.
   */
  readonly backends?: Readonly<Record<string, SpawnBackend>>
  readonly spawnedBy: "process" | "worker" | "forkserver"
  /**
   * The spawn spec, when the backend handed it over at launch (`LaunchRequest.spec`): the child
   * does not wait for a `SpawnSpec` message (the parent sends none: `LaunchedActor.specDelivered`).
   * A string: one was handed over but is malformed (why); the boot fails.
   */
  readonly spec?: SpawnSpec | string | undefined
  /** The connection to the parent (a socket to its listener, or a port it handed over). */
  readonly parent: Effect.Effect<Connection, TransportError, Scope.Scope>
  /** Called once the child said `Ready` (the bundle loader writes its code cache then, see `bundleBoot`). */
  readonly booted?: () => void
  /** A process host: arm the parent-death signal, name the process, and call `stop` on SIGINT/SIGTERM. */
  readonly setup?: (stop: (reason: string) => void) => void
  /**
   * A process host, right before the process exits: SIGKILL what is still below it. `always`:
   * after an overrun teardown (look whatever the bookkeeping says); else only when children it
   * started are still alive. (A worker shares its process: it has none of this.)
   */
  readonly beforeExit?: (always: boolean) => void
  /**
   * A process host, once its bounds are known: arm the native parent-death watchdog, which
   * SIGKILLs this process and its descendants `graceMs` after the parent died if it is still
   * alive then (its JS wedged). No addon: nothing.
   */
  readonly armParentWatchdog?: (graceMs: number) => void
  /**
   * A process host: make this process a subreaper (prctl(PR_SET_CHILD_SUBREAPER)) for the
   * actor's lifetime, so what its handlers start and orphan — a daemon whose parent exited, the
   * processes of a child actor that was SIGKILLed — re-parents to this actor, not to init: its
   * ancestors' ladders still find it among their descendants, and the release (when the actor
   * ends) runs `ladder` on it. No addon: nothing.
   */
  readonly subreaper?: (ladder: Ladder.LadderBounds) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * What `backend/process/load-bundle.cjs` (or `snapshot-entry.cjs`, for a child started from the
 * bundle's startup snapshot) tells the code it runs (`globalThis[Symbol.for("troupe.childBundle")]`).
 */
export interface BundleBoot {
  /** The bundle's path. */
  readonly bundle: string
  /** Whether V8's code cache was used, or will be written after boot; or the runtime came from the bundle's startup snapshot. */
  readonly codeCache: "used" | "written after boot" | "snapshot"
  /** Boot is done: write the code cache if it was missing (once; later calls do nothing). */
  readonly booted: () => void
}

/** The loader's record, when this code runs from a `.cjs` bundle through `load-bundle.cjs`. */
export const bundleBoot = (): BundleBoot | undefined =>
  (globalThis as { [k: symbol]: BundleBoot | undefined })[Symbol.for("troupe.childBundle")]

const hardExit = (code: number, afterMs: number, host: Host) =>
  setTimeout(() => {
    process.stderr.write(`troupe child: teardown exceeded ${afterMs} ms (Bounds.parentDeathExitMs); exiting ${code}\n`)
    host.beforeExit?.(true)
    process.exit(code)
  }, afterMs).unref()

/** Find the one implementation of `spec.definition` the module exports (or say why not). */
const findImplementation = (mod: Record<string, unknown>, s: SpawnSpec): Implementation | string => {
  const candidates = s.exportName !== null
    ? [Object.prototype.hasOwnProperty.call(mod, s.exportName) ? mod[s.exportName] : undefined]
    : Object.values(mod)
  const found = candidates.filter((v) => isImplementation(v) && v.definition.name === s.definition)
  if (found.length === 1) return found[0] as Implementation
  return found.length === 0
    ? `the module exports no implementation of ${s.definition}${s.exportName !== null ? ` as "${s.exportName}"` : ""}`
    : `the module exports ${found.length} implementations of ${s.definition}; pass exportName`
}

/**
 * A child's program with its logging: annotated, filtered at the level the parent set in
 * TROUPE_LOG_LEVEL (the logger exists before the spawn spec), records relayed to `logTo()` once
 * there is a parent channel (stderr before).
 */
export const withChildLogging = <A, E>(
  program: Effect.Effect<A, E>,
  annotations: Record<string, unknown>,
  logTo: () => Channel.Channel | undefined
): Effect.Effect<A, E> => {
  const wanted = (process.env["TROUPE_LOG_LEVEL"] ?? "Warning").toLowerCase()
  const level = LogLevel.allLevels.find((l) => l.label.toLowerCase() === wanted) ?? LogLevel.Warning
  const logger = relayLogger(logTo, Logger.withLeveledConsole(Logger.logfmtLogger))
  // `Effect.locallyWith` on the loggers, not `Effect.provide(Logger.replace(…))`: the same for
  // this fiber and its children, without building a layer on the boot's critical path.
  return program.pipe(
    Effect.annotateLogs(annotations),
    Logger.withMinimumLogLevel(level),
    Effect.locallyWith(FiberRef.currentLoggers, (loggers) => HashSet.add(HashSet.remove(loggers, Logger.defaultLogger), logger))
  )
}

/** Run this process (or worker) as the child actor described by `host`, serving an implementation of `mod`. */
export const main = (mod: Record<string, unknown>, host: Host): void => {
  const loadedMs = Math.round(performance.now())
  const { args } = host
  if (host.bundle !== undefined) useBundleSourceMap(host.bundle)
  const stop = Deferred.unsafeMake<string>(undefined as any)
  host.setup?.((reason) => Deferred.unsafeDone(stop, Exit.succeed(reason)))
  const self = { name: args.name, id: args.id, pid: host.pid }

  let logTo: Channel.Channel | undefined
  /** `Ready` sent; until then a stop interrupts the boot (`stoppedBooting`). */
  let booted = false
  /** The hard exit bound of a teardown: the default until the spawn spec's bounds are known. */
  let exitBoundMs = defaultActorBounds.parentDeathExitMs
  const program = Effect.gen(function*() {
    const bounds0 = defaultActorBounds
    const conn = yield* host.parent
    // The parent named on the command line: say Hello and go on booting; its own Hello comes on
    // the channel and is checked there. Else wait for it (the handshake).
    const known = args.parentAid
    let parentAid: Aid
    if (known !== undefined) {
      const e = conn.write(hello(self, "child"))
      if (e !== undefined) return yield* Effect.fail(e)
      parentAid = known
    } else parentAid = (yield* Channel.handshake(conn, self, "child", true, bounds0.handshakeMs))[1]
    const control = yield* Queue.unbounded<Message>()
    const proxy: { -readonly [K in keyof Channel.ChannelHandlers]: Channel.ChannelHandlers[K] } = {
      onControl: (m) => {
        if (m[0] !== MsgType.Hello) return control.unsafeOffer(m)
        if (known === undefined || m[1].id !== known.id) {
          Deferred.unsafeDone(stop, Exit.succeed(`unexpected Hello from ${m[1].id} on the parent channel`))
        }
      },
      // Whatever ends this actor completes `stop`: no race of fibers to wait on, to join and interrupt.
      onClosed: () => Deferred.unsafeDone(stop, Exit.succeed("parent gone"))
    }
    const parent = yield* Channel.make(conn, self, parentAid, true, proxy)
    // From here on, log records go to the parent as structured records (internal/logRelay.ts).
    logTo = parent
    // The spec handed over at launch, or the parent's `SpawnSpec` message (the first control
    // message; the parent sends none when the spec went at launch, so a bad one fails the boot).
    const atLaunch = host.spec
    if (typeof atLaunch === "string" || (atLaunch !== undefined && atLaunch.id !== args.id)) {
      const why = typeof atLaunch === "string"
        ? `malformed spawn spec at launch: ${atLaunch}`
        : `the spawn spec at launch is ${atLaunch.id}'s, not ${args.id}'s`
      parent.write(bootFailed(why))
      return yield* Effect.fail(why)
    }
    const s: SpawnSpec = atLaunch !== undefined ? atLaunch : yield* Queue.take(control).pipe(
      Effect.raceFirst(parent.closed.pipe(Effect.zipRight(Effect.fail("parent closed the channel before the spawn spec")))),
      Effect.timeoutFail({ duration: bounds0.bootMs, onTimeout: () => `no spawn spec within ${bounds0.bootMs} ms` }),
      Effect.flatMap((m) => m[0] === MsgType.SpawnSpec ? Effect.succeed(m[1]) : Effect.fail(`expected SpawnSpec, got message type ${m[0]}`))
    )
    const bounds = Runtime.boundsFromRecord(defaultActorBounds, s.bounds)
    exitBoundMs = bounds.parentDeathExitMs
    host.armParentWatchdog?.(bounds.parentDeathExitMs + parentWatchdogSlackMs)
    // The parent's ladder bounds (the root's, down the tree): this actor ends its children with them.
    const ladder = Runtime.boundsFromRecord(Ladder.defaultLadderBounds, s.bounds)
    if (host.subreaper !== undefined) yield* host.subreaper(ladder)
    const impl = findImplementation(mod, s)
    if (typeof impl === "string") {
      parent.write(bootFailed(impl))
      return yield* Effect.fail(impl)
    }
    // The handlers' services, built here (in this process or thread), in this actor's scope: its
    // finalizers run after the tasks are cancelled, under the hard exit bound.
    const services = yield* buildServices(impl).pipe(
      Effect.tapError((e) => Effect.sync(() => parent.write(bootFailed(e))))
    )
    const runtime = yield* Runtime.make({
      self,
      implementation: impl,
      services,
      transport: s.transport,
      socketDir: s.socketDir,
      registrar: s.registrar ?? "embedded",
      bounds,
      ladder,
      backends: yield* Backends.make(host.backend, host.backends).pipe(Effect.tapError((e) => Effect.sync(() => parent.write(bootFailed(e.message))))),
      logLevel: s.logLevel,
      secret: s.secret ?? undefined,
      parent: parent.remote.id,
      parentChannel: { channel: parent, address: args.parent },
      spawnedBy: host.spawnedBy,
      onActorCancelled: (canceller) => Deferred.succeed(stop, `cancelled by ${canceller}`),
      shutdown: stop
    }).pipe(
      Effect.tapError((e) => Effect.sync(() => parent.write(bootFailed(e.message))))
    )
    const h = runtime.channelHandlers()
    if (h.onStart) proxy.onStart = h.onStart
    if (h.onActorCancel) proxy.onActorCancel = h.onActorCancel
    yield* runtime.adopt(parent)
    parent.write(ready(runtime.address, runtime.readyRegistration))
    booted = true
    yield* Effect.logDebug(
      `ready ${Math.round(performance.now())} ms after ${host.spawnedBy} start (code loaded at ${loadedMs} ms; spawn spec ${atLaunch !== undefined ? "at launch" : "from the parent"})`
    )
    if (host.booted !== undefined) setImmediate(host.booted)

    // The host's signal, the parent's cancel, the parent gone (`onClosed`), or a shutdown request.
    const reason = yield* Deferred.await(stop)
    yield* Effect.logDebug(`shutting down: ${reason}`)
    hardExit(70, bounds.parentDeathExitMs, host)
    yield* runtime.cancelTasks(`${self.id}`, bounds.nurseryCancelMs)
  }).pipe(Effect.scoped)

  // A stop before `Ready` (a signal: the parent closing its nursery while this boots; the parent
  // gone) interrupts the boot — a layer still building, a wait for the spawn spec — and this
  // exits once its scope is closed (under the hard exit bound), instead of finishing the boot
  // first: a boot that takes long (a service that connects, with retries) would otherwise keep
  // its parent's teardown waiting for the ladder's SIGKILL (`terminateGraceMs` later). After
  // `Ready`, the program itself answers the stop.
  const stoppedBooting = Effect.flatMap(Deferred.await(stop), (reason) =>
    booted ? Effect.never : Effect.zipRight(Effect.sync(() => hardExit(70, exitBoundMs, host)), Effect.logDebug(`stopped while booting: ${reason}`)))

  Effect.runFork(
    withChildLogging(Effect.raceFirst(program, stoppedBooting), { actor: self.name, id: self.id, pid: self.pid }, () => logTo)
  ).addObserver((exit) => {
    // In a worker, process.exit ends this worker only (its parent thread sees the code).
    host.beforeExit?.(false)
    if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
      process.stderr.write(`troupe child ${self.id}: ${Cause.pretty(exit.cause)}\n`)
      process.exit(1)
    }
    process.exit(0)
  })
}
