/**
 * The restart engine behind `Supervisor`: slots (one per supervised child), the reaction to an
 * incarnation's end (strategy, restart type, intensity, backoff), give-up and stop. Every
 * reaction runs under one lock, so a restart (stop the group, wait the backoff, start the group)
 * is never interleaved with another one or with a `supervise`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Actor from "../Actor.js"
import { ActorFailure, ActorRestarting, SupervisorGaveUp } from "../Errors.js"
import * as Portal from "../Portal.js"
import type { TroupeRuntime } from "./context.js"
import type { ChildState } from "./handle.js"
import { fromKey } from "./metricKey.js"
import * as Metrics from "./metrics.js"
import * as Spawn from "./spawn.js"

/** OTP's restart strategies. */
export type Strategy = "one-for-one" | "one-for-all" | "rest-for-one"
/** OTP's restart types: always, only after an abnormal end, never. */
export type Restart = "permanent" | "transient" | "temporary"

/** One restart, as logged. Times are `Date.now()` ms. */
export interface RestartEvent {
  /** The child whose end caused it. */
  readonly child: string
  /** Its exit (`exited 3`, `signaled SIGKILL`, `terminated`) or why its start failed. */
  readonly reason: string
  /** The incarnation that ended. */
  readonly incarnation: number
  /** When the end was seen. */
  readonly at: number
  /** Children stopped for it, in stop order (reverse start order; the failed one is not listed). */
  readonly stopped: ReadonlyArray<string>
  /** The backoff waited before starting again, ms. */
  readonly delayMs: number
  /** Children started again, in start order. */
  readonly restarted: ReadonlyArray<string>
  /** When the last of them was up (0 when a start failed; a new event follows). */
  readonly doneAt: number
}

type SlotState =
  | { readonly _tag: "Running"; readonly child: Spawn.Child; readonly portal: Portal.Portal<any> }
  | { readonly _tag: "Restarting"; readonly reason: string }
  | { readonly _tag: "Stopped"; readonly reason: string }

export interface Slot {
  readonly name: string
  readonly order: number
  readonly implementation: Actor.Implementation<any>
  readonly exportName: string | undefined
  /** Backend and spawn options of every incarnation. */
  readonly start: Omit<Spawn.StartOptions, "name" | "exportName"> | undefined
  readonly restart: Restart
  readonly onStart: ((portal: Portal.Portal<any>, incarnation: number) => Effect.Effect<void, unknown>) | undefined
  incarnation: number
  state: SlotState
}

export const stateOf = (slot: Slot): ChildState =>
  slot.state._tag === "Running" ? "running" : slot.state._tag === "Restarting" ? "restarting" : "stopped"

export interface Config {
  readonly rt: TroupeRuntime
  readonly name: string
  readonly strategy: Strategy
  readonly intensity: number
  readonly periodMs: number
  /** Sleeps the next backoff delay and returns it; `None` once the schedule ended. */
  readonly nextDelay: (failure: unknown) => Effect.Effect<Option.Option<Duration.Duration>>
  readonly resetDelay: Effect.Effect<void>
  /** Where incarnations' scopes are forked. */
  readonly childrenScope: Scope.Scope
  /** Where watchers are forked (the supervisor's scope). */
  readonly scope: Scope.Scope
  readonly gaveUp: (error: SupervisorGaveUp) => Effect.Effect<unknown>
}

/** Restarts made, tagged `supervisor` and `child` (Effect `Metric`, the default registry). */
export const restartsTotal = fromKey(MetricKey.counter("troupe_supervisor_restarts", { description: "children restarted by supervisors", incremental: true }))
/** Give-ups, tagged `supervisor`. */
export const giveUpsTotal = fromKey(MetricKey.counter("troupe_supervisor_give_ups", { description: "supervisors that exceeded their restart intensity", incremental: true }))

export const make = (config: Config) => {
  const { rt } = config
  const b = rt.config.bounds
  const slots: Array<Slot> = []
  const history: Array<RestartEvent> = []
  const fibers = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  let restartTimes: Array<number> = []
  let order = 0
  let closing = false
  let gaveUp = false
  const lock = Effect.unsafeMakeSemaphore(1)
  const log = (message: string) => Effect.logInfo(`supervisor ${config.name}: ${message}`)

  /** Boot one incarnation of `slot`, run its `onStart`, watch its end. */
  const startIncarnation = (slot: Slot): Effect.Effect<void, ActorFailure> =>
    Effect.gen(function*() {
      const child = yield* Spawn.boot(rt, config.childrenScope, slot.implementation, {
        ...slot.start,
        name: slot.name,
        ...(slot.exportName ? { exportName: slot.exportName } : {})
      }).pipe(
        // A supervised child's start fails with ActorFailure (its message names the option).
        Effect.catchTag("SpawnOptionUnsupported", (e) => Effect.fail(new ActorFailure({ actor: slot.name, reason: e.message })))
      )
      slot.incarnation += 1
      const incarnation = slot.incarnation
      const portal = Portal.make(child.channel, slot.implementation.definition, { bounds: b, escalate: (r, unresponsive) => Spawn.endChild(rt, child, r, unresponsive) })
      const watcher = yield* child.launched.exited.pipe(
        Effect.flatMap((exit) => onExit(slot, incarnation, child, exit)),
        Effect.forkIn(config.scope)
      )
      fibers.add(watcher)
      watcher.addObserver(() => fibers.delete(watcher))
      if (slot.onStart !== undefined) {
        const started = yield* Effect.exit(slot.onStart(portal, incarnation))
        if (Exit.isFailure(started)) {
          yield* Spawn.cancelChild(rt, child, "onStart failed")
          slot.state = { _tag: "Stopped", reason: "onStart failed" }
          return yield* Effect.fail(new ActorFailure({ actor: slot.name, reason: `onStart failed: ${Cause.pretty(started.cause)}` }))
        }
      }
      slot.state = { _tag: "Running", child, portal }
    })

  /** An incarnation ended. Ignored when the supervisor asked for it (or is closing). */
  const onExit = (slot: Slot, incarnation: number, child: Spawn.Child, exit: string) =>
    lock.withPermits(1)(Effect.gen(function*() {
      rt.childPids.delete(child.launched.pid)
      if (closing || gaveUp || child.cancelling || slot.incarnation !== incarnation) return
      yield* Spawn.cancelChild(rt, child, "exited") // releases its scope; it has exited already
      const abnormal = exit !== "exited 0"
      const failure = new ActorFailure({
        actor: slot.name,
        reason: abnormal ? "crashed" : "exited",
        exit,
        stderr: child.launched.stderrTail()
      })
      yield* react(slot, failure, exit, abnormal)
    }))

  const giveUp = (slot: Slot, failure: unknown, reason: string) =>
    Effect.gen(function*() {
      gaveUp = true
      const error = new SupervisorGaveUp({
        supervisor: config.name,
        child: slot.name,
        restarts: restartTimes.length,
        periodMs: config.periodMs,
        reason,
        lastFailure: failure
      })
      yield* Effect.logError(`supervisor ${config.name}: giving up: ${error.message}`)
      yield* Metric.increment(Metrics.tagged(giveUpsTotal, ["supervisor", config.name]))
      yield* stopAll("supervisor gave up")
      yield* config.gaveUp(error)
    })

  /** The children a restart of `slot` concerns, in start order. */
  const groupOf = (slot: Slot): Array<Slot> => {
    const live = slots.filter((s) => s === slot || s.state._tag !== "Stopped")
    switch (config.strategy) {
      case "one-for-one":
        return [slot]
      case "one-for-all":
        return live
      case "rest-for-one":
        return live.filter((s) => s.order >= slot.order)
    }
  }

  /** `slot` ended (`failure`): apply its restart type, the intensity, the strategy and the backoff. */
  const react = (slot: Slot, failure: unknown, reason: string, abnormal: boolean): Effect.Effect<void> =>
    Effect.gen(function*() {
      const at = Date.now()
      const restart = slot.restart === "permanent" || (slot.restart === "transient" && abnormal)
      if (!restart) {
        slot.state = { _tag: "Stopped", reason }
        return yield* log(`${slot.name} (${slot.restart}, incarnation ${slot.incarnation}) ended (${reason}): not restarted`)
      }
      restartTimes = restartTimes.filter((t) => at - t < config.periodMs)
      if (restartTimes.length >= config.intensity) {
        slot.state = { _tag: "Stopped", reason }
        return yield* giveUp(slot, failure, "intensity exceeded")
      }
      if (restartTimes.length === 0) yield* config.resetDelay
      restartTimes.push(at)
      const group = groupOf(slot)
      // The others' running incarnations, to stop last started first (OTP), each bounded like a nursery's child.
      const toStop = group.flatMap((s) => (s !== slot && s.state._tag === "Running" ? [[s, s.state.child] as const] : [])).reverse()
      for (const s of group) if (s.state._tag !== "Stopped") s.state = { _tag: "Restarting", reason: s === slot ? reason : `${slot.name} ${reason}` }
      slot.state = { _tag: "Restarting", reason }
      yield* Effect.logWarning(
        `supervisor ${config.name}: ${slot.name} (incarnation ${slot.incarnation}) ended (${reason}): ${config.strategy} restart of [${group.map((s) => s.name).join(", ")}] (${restartTimes.length}/${config.intensity} within ${config.periodMs} ms)`
      )
      const stopped: Array<string> = []
      for (const [s, child] of toStop) {
        yield* Spawn.cancelChild(rt, child, `${config.strategy} restart after ${slot.name} ${reason}`)
        stopped.push(s.name)
      }
      const delay = yield* config.nextDelay(failure)
      if (Option.isNone(delay)) {
        slot.state = { _tag: "Stopped", reason }
        return yield* giveUp(slot, failure, "backoff schedule ended")
      }
      const delayMs = Duration.toMillis(delay.value)
      const restarted: Array<string> = []
      for (const s of group) {
        if (s !== slot && s.restart === "temporary") {
          s.state = { _tag: "Stopped", reason: `temporary, stopped by the restart of ${slot.name}` }
          continue
        }
        const started = yield* Effect.either(startIncarnation(s))
        if (started._tag === "Left") {
          history.push({ child: slot.name, reason, incarnation: slot.incarnation, at, stopped, delayMs, restarted, doneAt: 0 })
          yield* Effect.logWarning(`supervisor ${config.name}: restarting ${s.name} failed: ${started.left.message}`)
          return yield* react(s, started.left, `restart failed: ${started.left.reason}`, true)
        }
        restarted.push(s.name)
        yield* Metric.increment(Metrics.tagged(restartsTotal, ["supervisor", config.name], ["child", s.name]))
      }
      history.push({ child: slot.name, reason, incarnation: slot.incarnation - 1, at, stopped, delayMs, restarted, doneAt: Date.now() })
      yield* log(`restarted [${restarted.join(", ")}] after a backoff of ${delayMs} ms`)
    })

  const stopAll = (reason: string) =>
    Effect.suspend(() => {
      const live = slots.flatMap((s) => (s.state._tag === "Running" ? [s.state.child] : []))
      for (const s of slots) s.state = { _tag: "Stopped", reason }
      return Effect.forEach(live, (c) => Spawn.cancelChild(rt, c, reason), { concurrency: "unbounded", discard: true })
    })

  return {
    slots,
    history,
    /** The current portal of a slot, or the error a call must fail with now. */
    current: (slot: Slot): Effect.Effect<Portal.Portal<any>, ActorRestarting | ActorFailure> => {
      const st = slot.state
      if (st._tag === "Running") return Effect.succeed(st.portal)
      if (st._tag === "Restarting") return Effect.fail(new ActorRestarting({ actor: slot.name, incarnation: slot.incarnation, reason: st.reason }))
      return Effect.fail(new ActorFailure({ actor: slot.name, reason: `not running: ${st.reason}` }))
    },
    /**
     * Start children of `implementation` and supervise them, under one hold of the lock (no
     * restart interleaves): their first incarnations boot concurrently, and their restart order
     * is the order of `specs`. Fails with the first `ActorFailure` after stopping the ones that
     * did start: none of them is kept. `hooks.added`: the new slots, before any boots; `hooks.up`:
     * each slot as its first incarnation is running, while the others may still boot.
     */
    superviseAll: (implementation: Actor.Implementation<any>, specs: ReadonlyArray<{
      readonly name: string
      readonly exportName?: string
      readonly start?: Omit<Spawn.StartOptions, "name" | "exportName">
      readonly restart?: Restart
      readonly onStart?: (portal: any, incarnation: number) => Effect.Effect<void, unknown>
    }>, hooks?: {
      readonly added?: (slots: ReadonlyArray<Slot>) => void
      readonly up?: (slot: Slot) => void
    }): Effect.Effect<ReadonlyArray<Slot>, ActorFailure> =>
      lock.withPermits(1)(Effect.gen(function*() {
        if (closing || gaveUp) {
          const reason = closing ? "the supervisor is closing" : "the supervisor gave up"
          return yield* Effect.fail(new ActorFailure({ actor: specs.map((s) => s.name).join(", "), reason }))
        }
        const added: Array<Slot> = specs.map((spec) => ({
          name: spec.name,
          order: order++,
          implementation,
          exportName: spec.exportName,
          start: spec.start,
          restart: spec.restart ?? "permanent",
          onStart: spec.onStart,
          incarnation: 0,
          state: { _tag: "Restarting", reason: "starting" }
        }))
        hooks?.added?.(added)
        const up = hooks?.up
        const started = yield* Effect.forEach(
          added,
          (slot) => Effect.exit(up === undefined ? startIncarnation(slot) : Effect.tap(startIncarnation(slot), () => Effect.sync(() => up(slot)))),
          { concurrency: "unbounded" }
        )
        const failed = started.find((e): e is Exit.Failure<void, ActorFailure> => Exit.isFailure(e))
        if (failed !== undefined) {
          const reason = "a child started with it did not start"
          const up = added.flatMap((slot) => (slot.state._tag === "Running" ? [slot.state.child] : []))
          for (const slot of added) slot.state = { _tag: "Stopped", reason }
          yield* Effect.forEach(up, (c) => Spawn.cancelChild(rt, c, reason), { concurrency: "unbounded", discard: true })
          return yield* Effect.failCause(failed.cause)
        }
        slots.push(...added)
        for (const slot of added) yield* Effect.logDebug(`supervisor ${config.name}: started ${slot.name} (${slot.restart})`)
        return added
      })),
    /** Stop pending restarts (bounded), then every child (each bounded like a nursery's child). */
    stop: Effect.gen(function*() {
      closing = true
      const pending = [...fibers]
      const ended = yield* Fiber.interruptAll(pending).pipe(Effect.interruptible, Effect.timeoutOption(b.nurseryCancelMs))
      if (Option.isNone(ended)) yield* Effect.logWarning(`supervisor ${config.name}: a restart did not stop within ${b.nurseryCancelMs} ms`)
      yield* stopAll("supervisor closing")
    })
  }
}
