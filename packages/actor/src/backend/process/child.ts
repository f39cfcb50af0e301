/**
 * The child side of boot (tractor's `_child.py` + `Actor._from_parent`):
 *
 * 1. arm the parent-death signal (`PR_SET_PDEATHSIG` → SIGTERM, via the addon when available);
 * 2. connect back to the parent's listener, `Hello{role: "child"}`;
 * 3. receive the `SpawnSpec` (which export to serve, transport, registrar, bounds);
 * 4. bind a listener, register with the registrar, answer `Ready{address}` (or `BootFailed`);
 * 5. serve until asked to end: `ActorCancel`, parent channel EOF (the parent died), SIGINT/SIGTERM;
 * 6. tear down (own tasks and children, unregister, listener) and exit; a teardown that
 *    overruns `Bounds.parentDeathExitMs` exits anyway (code 70). A second signal exits at once.
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
import { type Implementation, isImplementation } from "../../Actor.js"
import { defaultActorBounds } from "../../Bounds.js"
import * as Channel from "../../internal/channel.js"
import * as Runtime from "../../internal/runtime.js"
import { useBundleSourceMap } from "../../internal/stackmap.js"
import { Address, BootFailed, type Message, Ready, type SpawnSpec } from "../../Protocol.js"
import * as Transport from "../../Transport.js"
import { backend } from "./ProcessBackend.js"

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

export const main = (mod: Record<string, unknown>): void => {
  const loadedMs = Math.round(performance.now())
  if (process.argv[1]?.endsWith(".mjs")) useBundleSourceMap(process.argv[1])
  const i = process.argv.indexOf("--troupe-child")
  const args = Schema.decodeUnknownSync(ChildArgs)(i >= 0 ? process.argv[i + 1] : undefined)
  // Parent death: the kernel sends SIGTERM when the parent dies (addon), and the parent channel
  // reaches EOF (always). If the parent died before prctl, exit now.
  try {
    native?.setPdeathsig(15)
    if (native !== undefined && native.getppid() !== args.parentPid) process.exit(70)
  } catch {
    // no addon: the channel EOF path handles it
  }
  const self = { name: args.name, id: args.id, pid: process.pid }
  process.title = `troupe[${args.name}@${args.id.split("@")[1]?.slice(0, 8) ?? ""}]` // tractor's _subactor[name@uuid]
  const stop = Deferred.unsafeMake<string>(undefined as any)
  let signals = 0
  const onSignal = (sig: NodeJS.Signals) => {
    signals++
    if (signals > 1) process.exit(sig === "SIGINT" ? 130 : 143)
    Deferred.unsafeDone(stop, Exit.succeed(`received ${sig}`))
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)

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
      backend,
      logLevel: s.logLevel,
      parent: parent.remote.id,
      spawnedBy: "process",
      onActorCancelled: (canceller) => Deferred.succeed(stop, `cancelled by ${canceller}`)
    }).pipe(
      Effect.tapError((e) => Effect.ignore(parent.send(new BootFailed({ message: e.message }))))
    )
    const h = runtime.channelHandlers()
    if (h.onStart) proxy.onStart = h.onStart
    if (h.onActorCancel) proxy.onActorCancel = h.onActorCancel
    yield* runtime.adopt(parent)
    yield* parent.send(new Ready({ address: runtime.address }))
    yield* Effect.logDebug(`ready ${Math.round(performance.now())} ms after process start (code loaded at ${loadedMs} ms)`)

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
    if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
      process.stderr.write(`troupe child ${self.id}: ${Cause.pretty(exit.cause)}\n`)
      process.exit(1)
    }
    process.exit(0)
  })
}
