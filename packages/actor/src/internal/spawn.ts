/**
 * Starting and ending one child actor: what `Nursery` and `Supervisor` share.
 *
 * `boot` launches a child through the runtime's backend, waits for its handshake and `Ready`
 * (each within `Bounds.bootMs`), in a scope of its own forked from the caller's. `endChild` is the
 * escalation policy (tractor's `soft_kill` → `hard_kill`), `cancelChild` ends a child and releases
 * its scope. Every wait is bounded by the runtime's bounds.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import type * as Actor from "../Actor.js"
import type { BackendChoice } from "../backend/registry.js"
import { Bounds, Ladder } from "../Bounds.js"
import { ActorFailure, SpawnOptionUnsupported } from "../Errors.js"
import * as Metrics from "./metrics.js"
import { type Aid, MsgType, type SpawnSpec, spawnSpec } from "../Protocol.js"
import { givenOptions, type LaunchedActor, type SpawnBackend, type SpawnOptions } from "../SpawnBackend.js"
import type { Channel } from "./channel.js"
import type { TroupeRuntime } from "./context.js"

/** One turn of the event loop (`setImmediate`: after the poll phase's I/O callbacks). */
const loopTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const t = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(t))
})

export interface StartOptions extends SpawnOptions {
  /** The actor's name (its id is `name@uuid`). */
  readonly name: string
  /** The export to load when the module has several implementations of the same definition. */
  readonly exportName?: string
  /**
   * The backend this actor is started with: a name (`"process"`, `"worker"`, …) or a backend
   * value. Default: the nursery's (`Nursery.make({ backend })`), else the runtime's
   * (`Troupe.layer({ backend })`, `TROUPE_SPAWN_BACKEND`). An unknown name fails with
   * `SpawnOptionUnsupported`.
   */
  readonly backend?: BackendChoice
}

/** The `SpawnOptions` part of start options (what the backend gets), without `undefined` keys. */
const spawnOptionsOf = (o: StartOptions): SpawnOptions | undefined => {
  const { backend: _b, exportName: _e, name: _n, ...rest } = o
  const out = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as SpawnOptions
  return Object.keys(out).length === 0 ? undefined : out
}

/** Fails with `SpawnOptionUnsupported` for the first option given that `backend` does not honour. */
export const checkOptions = (backend: SpawnBackend, actor: string, options: SpawnOptions | undefined) =>
  Effect.suspend(() => {
    const honoured = backend.honours ?? []
    const refused = givenOptions(options).find((o) => !honoured.includes(o))
    return refused === undefined ? Effect.void : Effect.fail(
      new SpawnOptionUnsupported({
        actor,
        backend: backend.name,
        option: refused,
        reason: honoured.length === 0
          ? "it honours no start options"
          : `it honours ${honoured.join(", ")}`
      })
    )
  })

export interface Child {
  readonly aid: Aid
  readonly launched: LaunchedActor
  readonly channel: Channel
  readonly scope: Scope.CloseableScope
  /** Set when its owner asked it to end: its exit is then not a failure. */
  cancelling: boolean
  /**
   * Set when its owner found it already exited (or its channel closed), unasked, as it began to
   * end it (a worker out of heap while its nursery closes): an exit other than `exited 0` is then
   * a failure even though `cancelling` is set.
   */
  diedUnasked?: boolean
  task: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** Set once `endChild` runs: completes when it is done. */
  ending: Deferred.Deferred<void> | undefined
}

/**
 * Launch `implementation` as a child of this runtime, in a scope forked from `parent`; returns
 * once it is booted and registered (`Ready`). Fails with `ActorFailure` when it dies before or
 * during boot, reports `BootFailed`, or is not ready within `Bounds.bootMs` (its scope is then
 * closed: nothing is left running).
 */
export const boot = <D extends Actor.Definition<any, any>>(
  rt: TroupeRuntime,
  parent: Scope.Scope,
  implementation: Actor.Implementation<D>,
  options: StartOptions,
  /** The nursery's backend, when it names one (`options.backend` wins). */
  nurseryBackend?: BackendChoice
): Effect.Effect<Child, ActorFailure | SpawnOptionUnsupported> =>
  Effect.gen(function*() {
    const b = rt.config.bounds
    const id = `${options.name}@${randomUUID()}`
    const t0 = Date.now()
    const backend = yield* rt.backends.get(options.backend ?? nurseryBackend, options.name)
    const spawnOptions = spawnOptionsOf(options)
    yield* checkOptions(backend, options.name, spawnOptions)
    const childScope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
    const booted = yield* Effect.scoped(Effect.gen(function*() {
      const rendezvous = yield* rt.expectChild(id)
      const spec: SpawnSpec = {
        name: options.name,
        id,
        definition: implementation.definition.name,
        exportName: options.exportName ?? null,
        transport: rt.config.transport,
        registrar: rt.registrarAddress,
        socketDir: rt.config.socketDir,
        secret: rt.config.secret,
        // Actor and ladder bounds in one record (their keys differ): the child passes both on.
        bounds: { ...rt.config.ladder, ...b },
        logLevel: rt.config.logLevel
      }
      const launched = yield* backend.launch({
        spec,
        name: options.name,
        id,
        implementation,
        parent: rt.address,
        parentAid: rt.self,
        logLevel: rt.config.logLevel,
        bounds: b,
        ladder: rt.config.ladder,
        bootKey: rendezvous.bootKey,
        options: spawnOptions
      }).pipe(
        // A backend that reads the bounds from the context sees this runtime's.
        Effect.provideService(Bounds, b),
        Effect.provideService(Ladder.Bounds, rt.config.ladder),
        Scope.extend(childScope)
      )
      if (launched.kind !== "thread") rt.childPids.add(launched.pid)
      // A backend that hands over an established connection (a worker's MessagePort) is served
      // as if the listener had accepted it.
      if (launched.connection !== undefined) yield* rt.accept(launched.connection).pipe(Scope.extend(childScope))
      // A child that fails at once can exit before this runtime accepted its connection or read
      // its Hello (its pidfd, or a worker's 'exit', seen first), and then what it said (Hello,
      // BootFailed) is still on the way. So after its exit, two turns of the event loop let a
      // connection already queued be accepted; while any connection is in its handshake, the
      // rendezvous gets up to `drainGraceMs` more. A child that never connected fails at once.
      const diedBeforeHandshake = launched.exited.pipe(
        Effect.zipLeft(Effect.zipRight(loopTurn, loopTurn)),
        Effect.tap(() => Effect.timeoutOption(rt.handshakesSettled, rt.config.ladder.drainGraceMs)),
        Effect.flatMap((exit) =>
          Effect.fail(new ActorFailure({ actor: options.name, reason: "died before the handshake", exit, stderr: launched.stderrTail() }))
        )
      )
      const channel = yield* Effect.raceFirst(rendezvous.channel, diedBeforeHandshake).pipe(
        Effect.timeoutFail({
          duration: b.bootMs,
          onTimeout: () => new ActorFailure({ actor: options.name, reason: `no handshake within ${b.bootMs} ms` })
        })
      )
      // Not sent when the backend handed the spec over at launch (`LaunchedActor.specDelivered`).
      const specError = launched.specDelivered === true ? undefined : channel.write(spawnSpec(spec))
      if (specError !== undefined) {
        return yield* Effect.fail(new ActorFailure({ actor: options.name, reason: `spawn spec not sent: ${specError.message}` }))
      }
      // A child that fails its boot says why (`BootFailed`) and exits at once: its exit can be
      // seen before its last message is read (a worker's 'exit' before its port's message, a
      // pidfd before the socket's data). What it sent before it died is still in the channel,
      // so after the exit the channel gets until its end (bounded by `drainGraceMs`) to deliver it.
      const diedDuringBoot = launched.exited.pipe(
        Effect.flatMap((exit) => {
          const dead = new ActorFailure({ actor: options.name, reason: "died during boot", exit, stderr: launched.stderrTail() })
          return Effect.raceFirst(rendezvous.control, Effect.zipRight(channel.closed, Effect.fail(dead))).pipe(
            Effect.timeoutFail({ duration: rt.config.ladder.drainGraceMs, onTimeout: () => dead })
          )
        })
      )
      const reply = yield* Effect.raceFirst(rendezvous.control, diedDuringBoot).pipe(
        Effect.timeoutFail({
          duration: b.bootMs,
          onTimeout: () => new ActorFailure({ actor: options.name, reason: `not ready within ${b.bootMs} ms` })
        })
      )
      if (reply[0] === MsgType.BootFailed) {
        return yield* Effect.fail(new ActorFailure({ actor: options.name, reason: `boot failed: ${reply[1]}` }))
      }
      if (reply[0] !== MsgType.Ready) {
        return yield* Effect.fail(new ActorFailure({ actor: options.name, reason: `unexpected message type ${reply[0]} during boot` }))
      }
      // Its registry entry, when this runtime hosts the registrar (it did not register itself).
      const entry = reply[2]
      if (entry !== null) {
        yield* rendezvous.register(entry).pipe(
          Effect.mapError((why) => new ActorFailure({ actor: options.name, reason: `not registered: ${why}` }))
        )
      }
      return { launched, channel }
    })).pipe(
      Effect.onError(() =>
        Scope.close(childScope, Exit.void).pipe(
          Effect.zipRight(Metrics.spawned(backendTagOf(backend), "failed"))
        )
      )
    )
    // Metrics: the spawn, its time, and one more live actor until it exits or its scope is released.
    const tag = Metrics.backendTag(booted.launched.kind)
    yield* Metrics.spawned(tag, "ready")
    yield* Metrics.spawnTook(tag, Date.now() - t0)
    const live = Metrics.live(tag)
    yield* Metric.increment(live)
    let counted = true
    const gone = Effect.suspend(() => {
      if (!counted) return Effect.void
      counted = false
      return Metric.incrementBy(live, -1)
    })
    yield* Scope.addFinalizer(childScope, gone)
    yield* booted.launched.exited.pipe(Effect.zipRight(gone), Effect.forkIn(childScope))
    return {
      aid: booted.channel.remote,
      launched: booted.launched,
      channel: booted.channel,
      scope: childScope,
      cancelling: false,
      task: undefined,
      ending: undefined
    }
  })

/** The backend tag of a spawn, before one has launched (a failed spawn). */
const backendTagOf = (backend: SpawnBackend): string => (backend.name === "worker" ? "worker" : "process")

/**
 * Before asking `child` to end: note whether it had already exited, or dropped its channel to
 * us (which a child does only as it exits), without being asked.
 */
export const markIfDied = (child: Child): void => {
  if (!child.cancelling && (child.launched.hasExited() || child.channel.isClosed())) child.diedUnasked = true
}

/**
 * End one child (the escalation policy, tractor's `soft_kill` → `hard_kill`):
 * 1. ask it to cancel itself (`cancelActor`, acknowledged within `Bounds.actorCancelAckMs`);
 * 2. acknowledged: wait for its exit within `Bounds.nurseryCancelMs`, then the termination ladder
 *    (SIGTERM → SIGKILL) on what is left;
 * 3. not acknowledged, and the `Ping` sent with the cancel not answered either: its event loop is
 *    not running — and a Node process in a synchronous loop never runs a SIGTERM handler either —
 *    so its group is SIGKILLed at once (a worker: `terminate()`), rather than after a SIGTERM
 *    grace it cannot use;
 * 4. not acknowledged but the ping answered: its loop runs, only slowly (25 actors ending at once
 *    on 2 cores): step 2, so a slow actor still ends gracefully.
 * `unresponsive` (an escalation whose `Ping` went unanswered for a whole bound already): step 3
 * at once, without waiting out `actorCancelAckMs` as well.
 * Each step is logged when its bound expires. Idempotent: concurrent callers share one run.
 */
export const endChild = (rt: TroupeRuntime, child: Child, reason: string, unresponsive = false): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (child.ending !== undefined) return Deferred.await(child.ending)
    const done = Deferred.unsafeMake<void>(FiberId.none)
    child.ending = done
    markIfDied(child)
    child.cancelling = true
    const b = rt.config.bounds
    const what = child.launched.kind === "thread" ? "worker" : "process"
    const t0 = Date.now()
    return Effect.gen(function*() {
      if (child.launched.hasExited()) return
      if (!child.channel.isClosed()) {
        // The ping goes first: the child's dispatcher answers it as it reads it, before the cancel.
        const answered = unresponsive ? () => false : child.channel.ping()
        const acked = unresponsive ? false : yield* child.channel.cancelActor(b.actorCancelAckMs)
        if (!acked && !answered()) {
          yield* Effect.logWarning(
            unresponsive
              ? `${child.aid.id} is not answering (${reason}): its event loop is not running; killing its ${what}`
              : `${child.aid.id} did not acknowledge cancel (${reason}) nor answer a ping within ${b.actorCancelAckMs} ms: its event loop is not running; killing its ${what}`
          )
          yield* Metrics.escalated("kill-unresponsive")
          return yield* child.launched.terminate(reason, { force: true })
        }
        if (!acked) {
          yield* Effect.logWarning(
            `${child.aid.id} did not acknowledge cancel (${reason}) within ${b.actorCancelAckMs} ms but answered a ping: waiting for its exit`
          )
        }
      }
      const exited = yield* (child.launched.exitedWithin !== undefined
        ? child.launched.exitedWithin(b.nurseryCancelMs)
        : child.launched.exited.pipe(Effect.interruptible, Effect.timeoutOption(b.nurseryCancelMs)))
      if (Option.isNone(exited)) {
        yield* Effect.logWarning(`${child.aid.id} still running ${b.nurseryCancelMs} ms after cancel (${reason}): terminating its ${what}`)
        yield* Metrics.escalated("terminate-after-cancel")
        yield* child.launched.terminate(reason)
      }
    }).pipe(
      Effect.ensuring(Effect.suspend(() =>
        Metrics.teardownTook(Metrics.backendTag(child.launched.kind), Date.now() - t0)
      )),
      Effect.ensuring(Deferred.succeed(done, undefined))
    )
  })

/** Cancel a child's task (if any), end the child, release what its scope holds. */
export const cancelChild = (rt: TroupeRuntime, child: Child, reason: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const b = rt.config.bounds
    markIfDied(child)
    child.cancelling = true
    if (child.task) {
      // The task's own cancel escalates past cancelAckMs; this only bounds waiting for it here.
      const ended = yield* Fiber.interrupt(child.task).pipe(Effect.interruptible, Effect.timeoutOption(b.cancelAckMs * 2))
      if (Option.isNone(ended)) yield* Effect.logWarning(`${child.aid.id}: its task did not end within ${b.cancelAckMs * 2} ms; cancelling the actor`)
    }
    yield* endChild(rt, child, reason)
    yield* Scope.close(child.scope, Exit.void)
    rt.childPids.delete(child.launched.pid)
  })
