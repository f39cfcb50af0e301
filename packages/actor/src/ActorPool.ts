/**
 * A pool of actors of one implementation, shaped after `@effect/platform`'s `Worker.makePool` and
 * piscina: `size` actors (process or worker backend, the root's), each taking up to
 * `concurrency` tasks at a time, with **pull-based dispatch** — a task waits (FIFO) until an
 * actor is free and goes to the first free one, so a slow task never holds up the others behind
 * a busy actor — and a bounded queue (`maxQueue`, then `PoolQueueFull`).
 *
 * ```ts
 * const pool = yield* ActorPool.make(HasherLive, { name: "hasher", size: 2 })
 * const digest = yield* pool.run((hasher) => hasher.hashFile(path))   // any endpoint; streams too
 * ```
 *
 * - **Cancellation per task**: interrupting `run` interrupts the task's call, which cancels it in
 *   its actor (the session's `Cancel`, bounded by `cancelAckMs`, escalated as a nursery does);
 *   the actor goes back to the pool.
 * - **Supervision**: the actors are children of a one-for-one `Supervisor` (permanent): an actor
 *   that dies is restarted (with the supervisor's backoff and intensity; past it the pool's
 *   `failure` fails with `SupervisorGaveUp`), the tasks it was running fail with its error, and
 *   the others go on. A task handed an actor that is restarting fails with `ActorRestarting`.
 * - **Teardown**: the pool lives in the current scope; closing it ends every actor (bounded, as
 *   a nursery).
 * - **Ready**: `make` returns once every actor is up (`ready: "all"`, the default), or once the
 *   first one is (`ready: "first"`): the others join the pool as each comes up (as Effect's
 *   `Pool` hands out items as they are acquired), so tasks start while they boot.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Actor from "./Actor.js"
import { type ActorFailure, PoolQueueFull, type SupervisorGaveUp } from "./Errors.js"
import type { Troupe } from "./internal/context.js"
import * as Supervisor from "./Supervisor.js"

export interface Options {
  /** Names the pool (logs, errors) and its actors (`<name>-1` … `<name>-<size>`). */
  readonly name: string
  /** Actors in the pool (≥ 1). */
  readonly size: number
  /** Tasks one actor runs at a time (≥ 1). Default 1. */
  readonly concurrency?: number
  /** Tasks allowed to wait for a free actor; one more fails with `PoolQueueFull`. Default: unbounded. */
  readonly maxQueue?: number
  /** Restarts allowed within `periodMs` (see `Supervisor.Options`). */
  readonly intensity?: number
  readonly periodMs?: number
  readonly backoff?: Schedule.Schedule<unknown, unknown>
  /** The backend and per-actor spawn options of every actor (see `Supervisor.ChildSpec.start`). */
  readonly start?: Supervisor.ChildSpec<any>["start"]
  /**
   * When `make` returns. `"all"` (default): once every actor is up; one that does not boot fails
   * `make`. `"first"`: once one is; each of the others takes tasks from when it is up (`ready`
   * says when all are). An actor that does not boot before the first is up fails `make`; one
   * that fails later ends the pool as `make` would have: the actors up are stopped, `ready` and
   * `failure` fail with its `ActorFailure`, and so does every task given an actor afterwards.
   * Default `"all"`. It pays where actors boot for long or outnumber the cores: 6 process actors
   * on 2 cores (the test greeter), the first task answered ~470 ms after `make` began instead of
   * ~570 ms (4 alternating runs). Not with as many actors as cores: the demo's 2 hashers on 2
   * cores, spawn to teardown 499 against 501 ms (25 interleaved runs each; the first actor's head
   * start takes the cores from the other's boot).
   */
  readonly ready?: "all" | "first"
}

export interface ActorPool<D extends Actor.Definition<any, any>> {
  readonly name: string
  readonly size: number
  /**
   * The pool's actors' stable handles, in name order (`<name>-1` …): for what is per actor, such
   * as its current pid (`handle.actor`). Tasks go through `run`, not through these.
   */
  readonly actors: ReadonlyArray<Supervisor.Handle<D>>
  /**
   * Run one task on the first free actor: `task` gets that actor's stable handle (every endpoint,
   * as on a `Portal`) and the actor is busy until the task ends. Waits for a free actor (FIFO);
   * fails with `PoolQueueFull` when `maxQueue` tasks already wait.
   */
  readonly run: <A, E, R>(task: (actor: Supervisor.Handle<D>) => Effect.Effect<A, E, R>) => Effect.Effect<A, E | PoolQueueFull, R>
  /** Tasks running now, and tasks waiting for an actor. */
  readonly load: Effect.Effect<{ readonly running: number; readonly waiting: number }>
  /**
   * Succeeds once every actor has booted (at once with `ready: "all"`); fails with the
   * `ActorFailure` of one that did not (`ready: "first"`).
   */
  readonly ready: Effect.Effect<void, ActorFailure>
  /**
   * Fails with `SupervisorGaveUp` if the actors' restarts exceed the intensity, or (`ready:
   * "first"`) with the `ActorFailure` of an actor that did not boot; never succeeds.
   */
  readonly failure: Effect.Effect<never, SupervisorGaveUp | ActorFailure>
}

/**
 * Start a pool of `options.size` actors of `implementation` in the current scope (they boot
 * concurrently); returns once every one is up, or the first one (`options.ready`). Fails with
 * `ActorFailure` when one does not boot (by then).
 */
export const make = <D extends Actor.Definition<any, any>>(
  implementation: Actor.Implementation<D>,
  options: Options
): Effect.Effect<ActorPool<D>, ActorFailure, Troupe | Scope.Scope> =>
  Effect.gen(function*() {
    const size = Math.max(1, Math.floor(options.size))
    const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1))
    const maxQueue = options.maxQueue ?? Number.POSITIVE_INFINITY
    const supervisor = yield* Supervisor.make({
      name: `pool ${options.name}`,
      strategy: "one-for-one",
      ...(options.intensity !== undefined ? { intensity: options.intensity } : {}),
      ...(options.periodMs !== undefined ? { periodMs: options.periodMs } : {}),
      ...(options.backoff !== undefined ? { backoff: options.backoff } : {})
    })
    const specs = Array.from({ length: size }, (_, i) => ({ name: `${options.name}-${i + 1}`, ...(options.start !== undefined ? { start: options.start } : {}) }))
    const free = yield* Queue.unbounded<Supervisor.Handle<D>>()
    /** Every actor up, or the failure of one that did not boot. */
    const allUp = yield* Deferred.make<void, ActorFailure>()
    let handles: ReadonlyArray<Supervisor.Handle<D>>
    if (options.ready !== "first") {
      handles = yield* supervisor.superviseAll(implementation, specs)
      // Free slots: each actor `concurrency` times, interleaved so consecutive tasks spread out.
      for (let k = 0; k < concurrency; k++) for (const h of handles) free.unsafeOffer(h)
      yield* Deferred.succeed(allUp, undefined)
    } else {
      // Booted in the pool's scope (closing it interrupts a boot still under way; the supervisor
      // ends what did start); each actor's slots are free from when it is up.
      const firstUp = yield* Deferred.make<void, ActorFailure>()
      let added: ReadonlyArray<Supervisor.Handle<D>> = []
      yield* supervisor.superviseAll(implementation, specs, {
        onAdded: (hs) => (added = hs),
        onUp: (h) => {
          for (let k = 0; k < concurrency; k++) free.unsafeOffer(h)
          Deferred.unsafeDone(firstUp, Exit.void)
        }
      }).pipe(
        Effect.exit,
        Effect.flatMap((exit) => {
          const done = Exit.asVoid(exit)
          return Effect.zipRight(Deferred.done(firstUp, done), Deferred.done(allUp, done))
        }),
        Effect.forkIn(yield* Effect.scope)
      )
      yield* Deferred.await(firstUp)
      handles = added
    }
    let running = 0
    let waiting = 0

    const run = <A, E, R>(task: (actor: Supervisor.Handle<D>) => Effect.Effect<A, E, R>): Effect.Effect<A, E | PoolQueueFull, R> =>
      Effect.acquireUseRelease(
        Effect.suspend(() => {
          // (A queue's size counts its waiting takers negatively.)
          const free$ = free.unsafeSize().pipe((o) => (o._tag === "Some" ? o.value : 0))
          if (free$ <= 0 && waiting >= maxQueue) return Effect.fail(new PoolQueueFull({ pool: options.name, maxQueue }))
          waiting++
          // Interruptible: a task cancelled while it waits leaves the queue at once (acquire is not).
          return Queue.take(free).pipe(Effect.interruptible, Effect.ensuring(Effect.sync(() => waiting--)))
        }),
        (actor) => {
          running++
          return task(actor)
        },
        (actor) =>
          Effect.sync(() => {
            running--
            free.unsafeOffer(actor)
          })
      )

    return {
      name: options.name,
      size,
      actors: handles,
      run,
      load: Effect.sync(() => ({ running, waiting })),
      ready: Deferred.await(allUp),
      failure: Effect.raceFirst(supervisor.failure, Effect.zipRight(Deferred.await(allUp), Effect.never))
    }
  })
