/**
 * The child side of boot (tractor's `_child.py` + `Actor._from_parent`), for a child process and
 * for a worker actor alike:
 *
 * 1. process only: arm the parent-death signal (`PR_SET_PDEATHSIG` → SIGTERM, via the addon when
 *    available), set the process title, handle SIGINT/SIGTERM;
 * 2. connect back to the parent's listener, `Hello{role: "child"}`;
 * 3. receive the `SpawnSpec` (which export to serve, transport, registrar, bounds);
 * 4. bind a listener, register with the registrar, answer `Ready{address}` (or `BootFailed`);
 * 5. serve until asked to end: `ActorCancel`, parent channel EOF (the parent died), or (process)
 *    SIGINT/SIGTERM;
 * 6. tear down (own tasks and children, unregister, listener) and exit; a teardown that
 *    overruns `Bounds.parentDeathExitMs` exits anyway (code 70). A second signal exits at once.
 *
 * In a worker (`workerData.troupe`, see `backend/worker/`), what is process-wide stays out: no
 * prctl (from a thread it would set the attribute for the whole process), no signal handlers, no
 * process title. `process.exit` there ends the worker only — which is what "exit" means for a
 * worker actor — so the exit paths are the same code. Its `pid` is its thread id, and the
 * processes it starts are reported to the parent thread (which cleans up after a terminated
 * worker).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import { native } from "@troupe/process/Native"
import { isMainThread, parentPort, workerData } from "node:worker_threads"
import { type Implementation, isImplementation } from "../../Actor.js"
import { defaultActorBounds } from "../../Bounds.js"
import * as Channel from "../../internal/channel.js"
import * as Runtime from "../../internal/runtime.js"
import { useBundleSourceMap } from "../../internal/stackmap.js"
import { Address, BootFailed, type Message, Ready, type SpawnSpec } from "../../Protocol.js"
import type { SpawnBackend } from "../../SpawnBackend.js"
import * as Transport from "../../Transport.js"
import { bootOf, currentThreadId, markingActors, type WorkerBoot } from "../worker/boot.js"
import * as WorkerBackend from "../worker/WorkerBackend.js"
import { backend as processBackend } from "./ProcessBackend.js"

export const ChildArgs = Schema.parseJson(Schema.Struct({
  parent: Address,
  parentPid: Schema.Number,
  id: Schema.String,
  name: Schema.String
}))

const hardExit = (code: number, afterMs: number) =>
  setTimeout(() => {
    process.stderr.write(`troupe child: teardown exceeded ${afterMs} ms (Bounds.parentDeathExitMs); exiting ${code}\n`)
    process.exit(code)
  }, afterMs).unref()

/** Where this child runs and what that allows. */
interface Host {
  readonly args: typeof ChildArgs.Type
  /** The bundle this code runs from (remote stacks are mapped through its source map). */
  readonly bundle: string | undefined
  readonly pid: number
  /** How this actor starts its own children. */
  readonly backend: SpawnBackend
  readonly spawnedBy: "process" | "worker"
}

const processHost = (): Host => {
  const i = process.argv.indexOf("--troupe-child")
  const args = Schema.decodeUnknownSync(ChildArgs)(i >= 0 ? process.argv[i + 1] : undefined)
  return {
    args,
    bundle: process.argv[1]?.endsWith(".mjs") ? process.argv[1] : undefined,
    pid: process.pid,
    backend: processBackend,
    spawnedBy: "process"
  }
}

const workerHost = (boot: WorkerBoot): Host => {
  const entry = boot.entry._tag === "bundle" ? "bundle" : "loader"
  return {
    args: Schema.decodeUnknownSync(ChildArgs)(boot.args),
    bundle: boot.entry._tag === "bundle" ? boot.entry.path : undefined,
    pid: currentThreadId() ?? process.pid,
    backend: boot.children === "process"
      ? markingActors(processBackend, parentPort!)
      : WorkerBackend.make({ entry, children: "worker" }),
    spawnedBy: "worker"
  }
}

export const main = (mod: Record<string, unknown>): void => {
  const loadedMs = Math.round(performance.now())
  const boot = isMainThread ? undefined : bootOf(workerData)
  const host = boot === undefined ? processHost() : workerHost(boot)
  const { args } = host
  if (host.bundle !== undefined) useBundleSourceMap(host.bundle)
  const stop = Deferred.unsafeMake<string>(undefined as any)
  if (boot === undefined) {
    // Parent death: the kernel sends SIGTERM when the parent dies (addon), and the parent channel
    // reaches EOF (always). If the parent died before prctl, exit now.
    try {
      native?.setPdeathsig(15)
      if (native !== undefined && native.getppid() !== args.parentPid) process.exit(70)
    } catch {
      // no addon: the channel EOF path handles it
    }
    process.title = `troupe[${args.name}@${args.id.split("@")[1]?.slice(0, 8) ?? ""}]` // tractor's _subactor[name@uuid]
    let signals = 0
    const onSignal = (sig: NodeJS.Signals) => {
      signals++
      if (signals > 1) process.exit(sig === "SIGINT" ? 130 : 143)
      Deferred.unsafeDone(stop, Exit.succeed(`received ${sig}`))
    }
    process.on("SIGINT", onSignal)
    process.on("SIGTERM", onSignal)
  }
  const self = { name: args.name, id: args.id, pid: host.pid }

  const program = Effect.gen(function*() {
    const bounds0 = defaultActorBounds
    const conn = yield* Transport.connect(args.parent, { maxFrameBytes: bounds0.maxFrameBytes, timeoutMs: bounds0.handshakeMs, flushMs: bounds0.flushMs })
    const hello = yield* Channel.handshake(conn, self, "child", true, bounds0.handshakeMs)
    const control = yield* Queue.unbounded<Message>()
    const proxy: { -readonly [K in keyof Channel.ChannelHandlers]: Channel.ChannelHandlers[K] } = {
      onControl: (m) => control.unsafeOffer(m)
    }
    const parent = yield* Channel.make(conn, self, hello.aid, true, proxy)
    const spec = yield* Queue.take(control).pipe(
      Effect.raceFirst(parent.closed.pipe(Effect.zipRight(Effect.fail("parent closed the channel before the spawn spec")))),
      Effect.timeoutFail({ duration: bounds0.bootMs, onTimeout: () => `no spawn spec within ${bounds0.bootMs} ms` })
    )
    if (spec._tag !== "SpawnSpec") return yield* Effect.fail(`expected SpawnSpec, got ${spec._tag}`)
    const s = spec as SpawnSpec
    const bounds = Runtime.boundsFromRecord(defaultActorBounds, s.bounds)
    const candidates = s.exportName !== null
      ? [Object.prototype.hasOwnProperty.call(mod, s.exportName) ? mod[s.exportName] : undefined]
      : Object.values(mod)
    const found = candidates.filter((v) => isImplementation(v) && v.definition.name === s.definition)
    if (found.length !== 1) {
      const why = found.length === 0
        ? `the module exports no implementation of ${s.definition}${s.exportName !== null ? ` as "${s.exportName}"` : ""}`
        : `the module exports ${found.length} implementations of ${s.definition}; pass exportName`
      yield* Effect.ignore(parent.send(new BootFailed({ message: why })))
      return yield* Effect.fail(why)
    }
    const impl = found[0] as Implementation
    const runtime = yield* Runtime.make({
      self,
      implementation: impl,
      transport: s.transport,
      socketDir: s.socketDir,
      registrar: s.registrar ?? "embedded",
      bounds,
      backend: host.backend,
      logLevel: s.logLevel,
      parent: parent.remote.id,
      spawnedBy: host.spawnedBy,
      onActorCancelled: (canceller) => Deferred.succeed(stop, `cancelled by ${canceller}`)
    }).pipe(
      Effect.tapError((e) => Effect.ignore(parent.send(new BootFailed({ message: e.message }))))
    )
    const h = runtime.channelHandlers()
    if (h.onStart) proxy.onStart = h.onStart
    if (h.onActorCancel) proxy.onActorCancel = h.onActorCancel
    yield* runtime.adopt(parent)
    yield* parent.send(new Ready({ address: runtime.address }))
    yield* Effect.logDebug(`ready ${Math.round(performance.now())} ms after ${host.spawnedBy} start (code loaded at ${loadedMs} ms)`)

    const reason = yield* Effect.raceFirst(
      Deferred.await(stop),
      parent.closed.pipe(Effect.as("parent gone"))
    ).pipe(Effect.raceFirst(runtime.shutdownRequested))
    yield* Effect.logDebug(`shutting down: ${reason}`)
    hardExit(70, bounds.parentDeathExitMs)
    yield* runtime.cancelTasks(`${self.id}`, bounds.nurseryCancelMs)
  }).pipe(Effect.scoped)

  // The parent sets TROUPE_LOG_LEVEL from its runtime's `logLevel` (the logger exists before the spawn spec).
  const wanted = (process.env["TROUPE_LOG_LEVEL"] ?? "Warning").toLowerCase()
  const level = LogLevel.allLevels.find((l) => l.label.toLowerCase() === wanted) ?? LogLevel.Warning
  Effect.runFork(
    program.pipe(
      Effect.annotateLogs({ actor: self.name, id: self.id, pid: self.pid }),
      Logger.withMinimumLogLevel(level),
      Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withLeveledConsole(Logger.logfmtLogger)))
    )
  ).addObserver((exit) => {
    // In a worker, process.exit ends this worker only (its parent thread sees the code).
    if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
      process.stderr.write(`troupe child ${self.id}: ${Cause.pretty(exit.cause)}\n`)
      process.exit(1)
    }
    process.exit(0)
  })
}
