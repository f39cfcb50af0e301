/**
 * Supervisors: restart what failed, within limits (Erlang/OTP's `supervisor`; tractor has none —
 * its issue #22 — and `Nursery.open` keeps tractor's one-cancels-all as troupe's default).
 *
 * ```ts
 * yield* Supervisor.open({ strategy: "one-for-one", intensity: 3, periodMs: 5000 }, (sup) =>
 *   Effect.gen(function*() {
 *     const db = yield* sup.supervise(DbLive, { name: "db" })                       // permanent
 *     const job = yield* sup.supervise(JobLive, { name: "job", restart: "transient" })
 *     return yield* db.query("select 1")    // a stable handle: reaches the current incarnation
 *   }))
 * ```
 *
 * - **Strategy** (what restarts when a child must be restarted), as in OTP:
 *   `one-for-one` the child alone; `one-for-all` every child (the others are stopped first, in
 *   reverse start order, then all start again in start order); `rest-for-one` the child and every
 *   child started after it (same order rules).
 * - **Restart type** per child: `permanent` (default) is restarted whenever it ends unasked;
 *   `transient` only when it ends abnormally (any exit but `exited 0`); `temporary` never. A
 *   temporary sibling stopped by a `one-for-all`/`rest-for-one` restart is not started again (OTP).
 * - **Intensity**: at most `intensity` restarts within a sliding `periodMs`; the next failure
 *   makes the supervisor give up: it stops every child and fails with one `SupervisorGaveUp`
 *   carrying the last failure, so its owner's strategy applies (`open` fails with it — inside a
 *   `Nursery.open` that is one-cancels-all; with `make`, `failure` fails with it).
 * - **Backoff**: before each restart the supervisor waits the next delay of `backoff` (an Effect
 *   `Schedule`; default exponential from `Bounds.supervisorDefaults.backoffBaseMs` capped at
 *   `backoffCapMs`), reset once a whole `periodMs` passed without a restart. A schedule that ends
 *   counts as giving up.
 * - **Stable handle**: `supervise` returns a `Handle`, one method per endpoint like a `Portal`,
 *   that reaches the current incarnation. A call made while the child is between incarnations
 *   fails at once with `ActorRestarting`; it does not wait for the next one. Why: a restart lasts
 *   a backoff delay plus a boot (up to seconds, and the supervisor may give up instead), so a
 *   waiting call would hide that latency and pile up work for an actor that may never return; a
 *   call in flight when the child died fails with its own error anyway, so the caller handles
 *   failure in either case, and only it knows whether a call is safe to repeat
 *   (`Effect.retry({ while: (e) => e._tag === "ActorRestarting", schedule })`). This is OTP's
 *   behaviour (a call to a restarting registered process exits with `noproc`).
 *
 * A failure is an incarnation's process (or worker) ending without the supervisor asking, or a
 * restart whose boot or `onStart` fails. Every restart, give-up and escalation is logged and
 * counted (`troupe_supervisor_restarts`, `troupe_supervisor_give_ups`) and kept in `restarts`.
 * Closing the supervisor's scope stops its pending restart (bounded by `Bounds.nurseryCancelMs`),
 * then ends every child like a nursery does (cancel → wait → termination ladder).
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type * as Actor from "./Actor.js"
import { supervisorDefaults } from "./Bounds.js"
import type { ActorFailure, SupervisorGaveUp } from "./Errors.js"
import { Troupe } from "./internal/context.js"
import * as Handle from "./internal/handle.js"
import * as Engine from "./internal/supervisor.js"
import type * as Portal from "./Portal.js"
import type { StartOptions } from "./internal/spawn.js"

export type { ChildState, Handle } from "./internal/handle.js"
export type { RestartEvent, Restart, Strategy } from "./internal/supervisor.js"

/**
 * The supervisors' counters (Effect `Metric.counter`s in the default registry): `restarts` tagged
 * `supervisor` and `child` (one per child started again), `giveUps` tagged `supervisor`.
 */
export const metrics = { restarts: Engine.restartsTotal, giveUps: Engine.giveUpsTotal } as const

export interface Options {
  /** Named in logs and in `SupervisorGaveUp`. Default `"supervisor"`. */
  readonly name?: string
  readonly strategy: Engine.Strategy
  /** Restarts allowed within `periodMs` (OTP `intensity`). Default `Bounds.supervisorDefaults.intensity` (3). */
  readonly intensity?: number
  /** The intensity's sliding window, ms (OTP `period`). Default 5000 ms. */
  readonly periodMs?: number
  /**
   * Delay before each restart: the schedule's next delay (its input is the failure). Default
   * `Schedule.exponential(backoffBaseMs)` capped at `backoffCapMs` (100 ms → 5 s).
   */
  readonly backoff?: Schedule.Schedule<unknown, unknown>
}

export interface ChildSpec<D extends Actor.Definition<any, any>> {
  /** The actor's name; each incarnation is a new actor with this name (and a new id). */
  readonly name: string
  /** The export to load when the module has several implementations of the same definition. */
  readonly exportName?: string
  /**
   * The backend and per-actor spawn options of every incarnation (`backend`, `env`, `cwd`,
   * `execArgv`, `resourceLimits` MB, `inspect`; see `Nursery.StartOptions`). One the backend
   * cannot honour fails `supervise` with `ActorFailure` naming it.
   */
  readonly start?: Omit<StartOptions, "name" | "exportName">
  /** Default `permanent`. */
  readonly restart?: Engine.Restart
  /**
   * Run after each incarnation booted, before it counts as started (OTP's start arguments): e.g.
   * hand it its configuration. A failure is the incarnation's failure (ends it; on a restart,
   * counts as a crash; on the first start, fails `supervise`).
   */
  readonly onStart?: (portal: Portal.Portal<D>, incarnation: number) => Effect.Effect<void, unknown>
}

export interface Supervisor {
  /**
   * Start a child and supervise it; returns its stable handle once its first incarnation is up.
   * Fails with `ActorFailure` when it does not boot (or its `onStart` fails) — no restart for a
   * first start, as in OTP — or when the supervisor is closing or gave up.
   */
  readonly supervise: <D extends Actor.Definition<any, any>>(
    implementation: Actor.Implementation<D>,
    spec: ChildSpec<D>
  ) => Effect.Effect<Handle.Handle<D>, ActorFailure>
  /**
   * Start several children of one implementation at once (a pool's workers): their first
   * incarnations boot concurrently (`supervise` starts one child at a time, as OTP does), and
   * their restart order is the order of `specs`. Returns their handles in that order once every
   * one is up; fails with the first `ActorFailure` after stopping the ones that did start.
   * `options.onAdded` gets the handles (in that order) before any child boots, `options.onUp`
   * each handle as its child is up, while the others may still boot (`ActorPool`'s
   * `ready: "first"`); both run synchronously, in the supervisor's own fiber.
   */
  readonly superviseAll: <D extends Actor.Definition<any, any>>(
    implementation: Actor.Implementation<D>,
    specs: ReadonlyArray<ChildSpec<D>>,
    options?: {
      readonly onAdded?: (handles: ReadonlyArray<Handle.Handle<D>>) => void
      readonly onUp?: (handle: Handle.Handle<D>) => void
    }
  ) => Effect.Effect<ReadonlyArray<Handle.Handle<D>>, ActorFailure>
  /** Every restart so far, in order. */
  readonly restarts: Effect.Effect<ReadonlyArray<Engine.RestartEvent>>
  /** The children, in start order, with their state and incarnation. */
  readonly children: Effect.Effect<ReadonlyArray<{ readonly name: string; readonly state: Handle.ChildState; readonly incarnation: number }>>
  /** Fails with `SupervisorGaveUp` once the supervisor gives up; never succeeds. */
  readonly failure: Effect.Effect<never, SupervisorGaveUp>
}

const defaultBackoff = (): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential(supervisorDefaults.backoffBaseMs).pipe(Schedule.union(Schedule.spaced(supervisorDefaults.backoffCapMs)))

/**
 * A supervisor in the current scope. Closing the scope stops every child (bounded, see the module
 * docs). A give-up is logged and surfaces from `failure`; nothing else interrupts the caller.
 */
export const make = (options: Options): Effect.Effect<Supervisor, never, Troupe | Scope.Scope> =>
  Effect.gen(function*() {
    const rt = yield* Troupe
    const scope = yield* Effect.scope
    // Children's scopes close after the stop below (finalizers run in reverse order).
    const childrenScope = yield* Scope.fork(scope, ExecutionStrategy.parallel)
    const failed = yield* Deferred.make<never, SupervisorGaveUp>()
    const driver = yield* Schedule.driver(Schedule.delays(options.backoff ?? defaultBackoff()))
    const engine = Engine.make({
      rt,
      name: options.name ?? "supervisor",
      strategy: options.strategy,
      intensity: options.intensity ?? supervisorDefaults.intensity,
      periodMs: options.periodMs ?? supervisorDefaults.periodMs,
      nextDelay: (failure) => Effect.map(driver.next(failure), (d) => Option.some(d)).pipe(Effect.catchAll(() => Effect.succeed(Option.none()))),
      resetDelay: driver.reset,
      childrenScope,
      scope,
      gaveUp: (e) => Deferred.fail(failed, e)
    })
    yield* Effect.addFinalizer(() => engine.stop)
    const handleOf = <D extends Actor.Definition<any, any>>(implementation: Actor.Implementation<D>, slot: Engine.Slot) =>
      Handle.make<D>(
        implementation.definition,
        slot.name,
        Effect.suspend(() => engine.current(slot)) as Effect.Effect<Portal.Portal<D>, Handle.HandleError>,
        Effect.sync(() => slot.incarnation),
        Effect.sync(() => Engine.stateOf(slot))
      )
    const superviseAll = <D extends Actor.Definition<any, any>>(
      implementation: Actor.Implementation<D>,
      specs: ReadonlyArray<ChildSpec<D>>,
      options?: {
        readonly onAdded?: (handles: ReadonlyArray<Handle.Handle<D>>) => void
        readonly onUp?: (handle: Handle.Handle<D>) => void
      }
    ) => {
      // One handle per slot, made as the slots are (the same objects for the hooks and the result).
      const handles = new Map<Engine.Slot, Handle.Handle<D>>()
      const hooks = {
        added: (slots: ReadonlyArray<Engine.Slot>) => {
          for (const slot of slots) handles.set(slot, handleOf(implementation, slot))
          options?.onAdded?.(slots.map((slot) => handles.get(slot)!))
        },
        ...(options?.onUp !== undefined ? { up: (slot: Engine.Slot) => options.onUp!(handles.get(slot)!) } : {})
      }
      return Effect.map(engine.superviseAll(implementation, specs, hooks), (slots) => slots.map((slot) => handles.get(slot)!))
    }
    return {
      supervise: <D extends Actor.Definition<any, any>>(implementation: Actor.Implementation<D>, spec: ChildSpec<D>) =>
        Effect.map(superviseAll(implementation, [spec]), (handles) => handles[0]!),
      superviseAll,
      restarts: Effect.sync(() => [...engine.history]),
      children: Effect.sync(() => engine.slots.map((s) => ({ name: s.name, state: Engine.stateOf(s), incarnation: s.incarnation }))),
      failure: Deferred.await(failed)
    }
  })

/**
 * Run `body` with a supervisor (see the module docs). Succeeds with the body's value; fails with
 * the body's error, or with `SupervisorGaveUp` (the body is then interrupted) — one error carrying
 * the last failure, so the owner's own strategy (a nursery's one-cancels-all, an outer
 * supervisor's restart of the actor running this) applies.
 */
export const open = <A, E, R>(
  options: Options,
  body: (supervisor: Supervisor) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | SupervisorGaveUp, R | Troupe> =>
  Effect.scoped(Effect.gen(function*() {
    const supervisor = yield* make(options)
    const bodyFiber = yield* Effect.fork(body(supervisor))
    const gaveUp = Effect.flip(supervisor.failure)
    const outcome = yield* Effect.raceFirst(
      Effect.map(Fiber.await(bodyFiber), (exit) => ({ _tag: "body" as const, exit })),
      Effect.map(gaveUp, (error) => ({ _tag: "gaveUp" as const, error }))
    )
    if (outcome._tag === "gaveUp") {
      yield* Fiber.interrupt(bodyFiber)
      yield* Effect.logError(`supervisor ${options.name ?? "supervisor"}: escalating to its owner: ${outcome.error.message}`)
      return yield* Effect.fail(outcome.error)
    }
    return yield* (outcome.exit as Exit.Exit<A, E>)
  }))
