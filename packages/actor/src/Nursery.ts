/**
 * Nurseries: a scope of child actors (tractor's `ActorNursery`, `runtime/_supervise.py`).
 *
 * ```ts
 * const result = yield* Nursery.open((nursery) => Effect.gen(function* () {
 *   const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })   // a daemon: Portal
 *   const job = yield* nursery.runInActor(WorkerLive, "work", 42, { name: "w" })  // a task
 *   return yield* greeter.greet("ada")
 * }))
 * ```
 *
 * Supervision is one-cancels-all, with tractor's rules for tasks:
 * - an error in the body cancels every child (tasks too) and ends the nursery;
 * - a daemon (`start`) whose process dies (any exit but a clean `exit 0`, which is how an actor
 *   asked to end by anyone exits) is an `ActorFailure`: the body is interrupted and every child
 *   cancelled;
 * - a task (`runInActor`) runs its one call to completion; its error is kept. Tasks are awaited
 *   once the body has returned (tractor's `run_in_actor` semantics, so concurrent task failures
 *   are all reported rather than racing each other's cancellation); when any task failed, every
 *   remaining child is cancelled;
 * - every error is kept, in arrival order, in the failure `Cause` (parallel failures).
 *
 * Closing (normally, on error, or when interrupted) cancels every child: `cancelActor` (ack within
 * `Bounds.actorCancelAckMs`), then the child's own exit within `Bounds.nurseryCancelMs`, then the
 * termination ladder on whatever is still alive — each escalation logged.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import type * as Actor from "./Actor.js"
import type { BackendChoice } from "./backend/registry.js"
import { ActorFailure, type ActorError, ContextCancelled, type SpawnOptionUnsupported } from "./Errors.js"
import * as Spawn from "./internal/spawn.js"
import * as Portal from "./Portal.js"
import { Troupe, type TroupeRuntime } from "./internal/context.js"
import type { Aid } from "./Protocol.js"

/**
 * `start` / `runInActor` options: `name` (required), `exportName`, `backend` (per actor), and the
 * per-actor spawn options `env`/`clearEnv`, `cwd`, `execArgv`, `resourceLimits` (MB), `inspect`
 * (see `SpawnBackend.SpawnOptions`; one the backend cannot honour fails the start with
 * `SpawnOptionUnsupported`).
 */
export type StartOptions = Spawn.StartOptions

export type { BackendChoice } from "./backend/registry.js"

/** Options of a nursery (`Nursery.make(options)`, `Nursery.open(options, body)`). */
export interface NurseryOptions {
  /**
   * The backend its children start with, unless a `start` names another: a name (`"process"`,
   * `"worker"`, …) or a backend value. Default: the runtime's (`Troupe.layer({ backend })`).
   */
  readonly backend?: BackendChoice
}

type CallKeys<D extends Actor.Definition<any, any>> = {
  [K in keyof D["endpoints"]]: D["endpoints"][K] extends { readonly _tag: "Call" } ? K : never
}[keyof D["endpoints"]]

type CallOf<D extends Actor.Definition<any, any>, K extends keyof D["endpoints"]> = Portal.Client<D["endpoints"][K]> extends
  (...args: infer A) => Effect.Effect<infer S, infer E> ? { args: A; success: S; error: E } : never

/** The call endpoints of `D` whose errors are all runtime errors or `TaskError`. */
type TaskKeys<D extends Actor.Definition<any, any>, TaskError> = {
  [K in CallKeys<D>]: [Exclude<CallOf<D, K>["error"], ActorError>] extends [TaskError] ? K : never
}[CallKeys<D>]

/**
 * What a nursery fails with besides its body's errors: `ActorFailure` (a daemon died unasked),
 * and a failed task's error — a runtime `ActorError` (`RemoteActorError` for an undeclared one) or
 * one of `TaskError`, the declared errors its tasks may fail with.
 */
export type NurseryError<TaskError = never> = ActorError | TaskError

/** A task's portal: the actor, plus the outcome of its one call. */
export type TaskPortal<D extends Actor.Definition<any, any>, K extends keyof D["endpoints"]> = Portal.Portal<D> & {
  /** The call's outcome (awaits it). */
  readonly result: Effect.Effect<CallOf<D, K>["success"], CallOf<D, K>["error"]>
}

/**
 * A nursery. `TaskError` lists the declared errors its tasks (`runInActor`) may fail with: a task
 * whose endpoint declares an error outside it does not compile. Name it by annotating the body's
 * parameter: `Nursery.open((n: Nursery.Nursery<Overloaded>) => ...)`. Default: none (tasks whose
 * endpoints declare no error).
 */
export interface Nursery<TaskError = never> {
  /**
   * Start a long-lived (daemon) actor; returns once it is booted and registered. Fails with
   * `ActorFailure`, or `SpawnOptionUnsupported` (an option or backend name the backend cannot
   * honour; nothing was launched).
   */
  readonly start: <D extends Actor.Definition<any, any>>(
    implementation: Actor.Implementation<D>,
    options: StartOptions
  ) => Effect.Effect<Portal.Portal<D>, ActorFailure | SpawnOptionUnsupported>
  /** Start an actor that runs one call of `endpoint` and then is cancelled (tractor `run_in_actor`). */
  readonly runInActor: <D extends Actor.Definition<any, any>, K extends TaskKeys<D, TaskError>>(
    implementation: Actor.Implementation<D>,
    endpoint: K,
    ...args: [...CallOf<D, K>["args"], options: StartOptions]
  ) => Effect.Effect<TaskPortal<D, K>, ActorFailure | SpawnOptionUnsupported>
  /** The children alive now. */
  readonly children: Effect.Effect<ReadonlyArray<Aid>>
  /**
   * What failed so far, in arrival order: daemons that died unasked (`ActorFailure`) and failed
   * tasks. `Nursery.open` fails with these; with `Nursery.make` they are logged and kept here.
   */
  readonly failures: Effect.Effect<ReadonlyArray<Cause.Cause<NurseryError<TaskError>>>>
  /** Cancel every child now (bounded; see the module docs). */
  readonly cancel: Effect.Effect<void>
}

interface State {
  readonly nursery: Nursery<any>
  /** Errors in arrival order. */
  readonly errors: Array<Cause.Cause<unknown>>
  /** Completes at the first error that must interrupt the body (daemon death). */
  readonly failed: Deferred.Deferred<void>
  readonly tasks: () => ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>
  readonly cancelAll: Effect.Effect<void>
}

const cancelChild = Spawn.cancelChild

const makeState = (rt: TroupeRuntime, scope: Scope.Scope, surfaced: boolean, options: NurseryOptions): Effect.Effect<State> =>
  Effect.gen(function*() {
    const b = rt.config.bounds
    // Children's scopes (their processes) close after the graceful cancel, which the callers add
    // as a finalizer once this returns (finalizers run in reverse order).
    const childrenScope = yield* Scope.fork(scope, ExecutionStrategy.parallel)
    const nurseryOptions = options
    const children = new Map<string, Spawn.Child>()
    const errors: Array<Cause.Cause<unknown>> = []
    const failed = yield* Deferred.make<void>()
    let closing = false
    const fail = (cause: Cause.Cause<unknown>, interruptBody: boolean) =>
      Effect.suspend(() => {
        errors.push(cause)
        if (interruptBody) Deferred.unsafeDone(failed, Exit.void)
        // Without a body to fail (`Nursery.make`), a daemon's death would go unseen: say it.
        return surfaced || !interruptBody ? Effect.void : Effect.logError("a child of this nursery died unexpectedly", cause)
      })

    /** A portal's cancel was not acknowledged: end the child (see `endChild`). */
    const escalate = (child: Spawn.Child) => (reason: string, unresponsive: boolean) => Spawn.endChild(rt, child, reason, unresponsive)

    const start = <D extends Actor.Definition<any, any>>(implementation: Actor.Implementation<D>, options: StartOptions) =>
      Effect.gen(function*() {
        if (closing) return yield* Effect.fail(new ActorFailure({ actor: options.name, reason: "the nursery is closing" }))
        const child: Spawn.Child = yield* Spawn.boot(rt, childrenScope, implementation, options, nurseryOptions.backend)
        const id = child.aid.id
        const booted = { launched: child.launched, channel: child.channel }
        children.set(id, child)
        // A child whose process ends without being asked to is an error of the nursery.
        const watcher = yield* booted.launched.exited.pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              children.delete(id)
              watchers.delete(child)
              rt.childPids.delete(booted.launched.pid)
            })
          ),
          Effect.flatMap((exit) =>
            // Exit 0 is an actor that ended because it was asked to (a cancel from anyone, a signal).
            (!child.diedUnasked && (child.cancelling || closing)) || exit === "exited 0"
              ? Effect.void
              : fail(Cause.fail(new ActorFailure({ actor: options.name, reason: "exited unexpectedly", exit, stderr: booted.launched.stderrTail() })), true)
          ),
          Effect.forkIn(scope)
        )
        if (children.has(id)) watchers.set(child, watcher)
        const portal = Portal.make(booted.channel, implementation.definition, { bounds: b, escalate: escalate(child) })
        return { portal, child }
      })

    const tasks: Array<Fiber.RuntimeFiber<unknown, unknown>> = []

    const watchers = new Map<Spawn.Child, Fiber.RuntimeFiber<void>>()
    const cancelAll = Effect.suspend(() => {
      const all = [...children.values()]
      // Children that already died unasked (their exit not yet handled): still failures, recorded
      // before the nursery reports (bounded: they have exited, only their output drain is left).
      for (const c of all) Spawn.markIfDied(c)
      const dead = all.flatMap((c) => (c.diedUnasked === true ? [watchers.get(c)] : [])).filter((f) => f !== undefined)
      closing = true
      return Effect.forEach(all, (c) => cancelChild(rt, c, "nursery closing"), {
        concurrency: "unbounded",
        discard: true
      }).pipe(
        Effect.zipRight(
          Effect.forEach(dead, Fiber.await, { concurrency: "unbounded", discard: true }).pipe(
            Effect.interruptible,
            Effect.timeoutOption(b.nurseryCancelMs)
          )
        )
      )
    })

    const nursery: Nursery<any> = {
      start: (implementation, options) => Effect.map(start(implementation, options), (r) => r.portal),
      runInActor: (implementation, endpoint, ...rest) =>
        Effect.gen(function*() {
          const options = rest[rest.length - 1] as StartOptions
          const args = rest.slice(0, -1)
          const { portal, child } = yield* start(implementation, options)
          const call = (portal as any)[endpoint](...args) as Effect.Effect<unknown, unknown>
          const outcome = yield* Deferred.make<unknown, unknown>()
          const call$ = yield* Effect.forkIn(call, scope)
          child.task = call$
          // The outcome resolves on every path — also when the call's fiber is interrupted before it
          // ever ran (the nursery closing at once), so it is set from the fiber's observer: the
          // call's result or error, or ContextCancelled naming this actor when it was cancelled.
          call$.addObserver((exit) => {
            child.task = undefined
            Deferred.unsafeDone(
              outcome,
              Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
                ? Exit.fail(new ContextCancelled({
                  canceller: rt.self.id,
                  src: child.aid.id,
                  message: `${String(endpoint)} in ${child.aid.id} was cancelled by its nursery (${rt.self.id})`
                }))
                : exit
            )
          })
          // Then: a failure is the nursery's, and the actor is done (a cancelled task's actor is
          // ended by whoever cancelled it).
          const fiber = yield* Fiber.await(call$).pipe(
            Effect.flatMap((exit) =>
              Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
                ? Effect.void
                : Effect.zipRight(Exit.isFailure(exit) ? fail(exit.cause, false) : Effect.void, cancelChild(rt, child, "task done"))
            ),
            Effect.forkIn(scope)
          )
          tasks.push(fiber)
          return { ...(portal as object), result: Deferred.await(outcome) } as any
        }),
      children: Effect.sync(() => [...children.values()].map((c) => c.aid)),
      failures: Effect.sync(() => [...errors]),
      cancel: cancelAll
    }
    return { nursery, errors, failed, tasks: () => [...tasks], cancelAll }
  })

/**
 * A nursery for the current scope, without a body: closing the scope cancels and reaps every
 * child. Task errors surface from their `result`; nothing interrupts the caller.
 * `Nursery.make({ backend: "worker" })`: its children are workers unless a `start` says otherwise.
 */
export const make = <TaskError = never>(options: NurseryOptions = {}): Effect.Effect<Nursery<TaskError>, never, Troupe | Scope.Scope> =>
  Effect.gen(function*() {
    const rt = yield* Troupe
    const scope = yield* Effect.scope
    const state = yield* makeState(rt, scope, false, options)
    yield* Effect.addFinalizer(() => state.cancelAll)
    return state.nursery
  })

/**
 * Run `body` with a supervised nursery (one-cancels-all, see the module docs). Succeeds with the
 * body's value when nothing failed; otherwise fails with every error, body's first.
 * `Nursery.open({ backend: "worker" }, body)` sets the nursery's backend (see `NurseryOptions`).
 */
export const open: {
  <A, E, R, TaskError = never>(
    body: (nursery: Nursery<TaskError>) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | NurseryError<TaskError>, R | Troupe>
  <A, E, R, TaskError = never>(
    options: NurseryOptions,
    body: (nursery: Nursery<TaskError>) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | NurseryError<TaskError>, R | Troupe>
} = <A, E, R, TaskError = never>(
  ...args:
    | [body: (nursery: Nursery<TaskError>) => Effect.Effect<A, E, R>]
    | [options: NurseryOptions, body: (nursery: Nursery<TaskError>) => Effect.Effect<A, E, R>]
): Effect.Effect<A, E | NurseryError<TaskError>, R | Troupe> => {
  const [options, body] = args.length === 1 ? [{}, args[0]] : args
  return openWith(options, body)
}

const openWith = <A, E, R, TaskError = never>(
  options: NurseryOptions,
  body: (nursery: Nursery<TaskError>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | NurseryError<TaskError>, R | Troupe> =>
  Effect.scoped(Effect.gen(function*() {
    const rt = yield* Troupe
    const scope = yield* Effect.scope
    const state = yield* makeState(rt, scope, true, options)
    yield* Effect.addFinalizer(() => state.cancelAll)
    const bodyFiber = yield* Effect.fork(body(state.nursery))
    const bodyExit = yield* Effect.raceFirst(
      Fiber.await(bodyFiber),
      Deferred.await(state.failed).pipe(Effect.zipRight(Fiber.interrupt(bodyFiber)))
    )
    if (Exit.isSuccess(bodyExit)) {
      // Tasks run to completion (tractor's run_in_actor): every error is collected — unless a
      // daemon dies meanwhile, which ends the wait (one-cancels-all).
      yield* Effect.raceFirst(
        Effect.forEach(state.tasks(), Fiber.await, { concurrency: "unbounded", discard: true }),
        Deferred.await(state.failed)
      )
    }
    yield* state.cancelAll
    const bodyCause = Exit.isFailure(bodyExit) && !(Cause.isInterruptedOnly(bodyExit.cause) && state.errors.length > 0)
      ? [bodyExit.cause]
      : []
    const all = [...bodyCause, ...state.errors]
    if (all.length === 0) return (bodyExit as Exit.Success<A, E>).value
    return yield* Effect.failCause(all.reduce((a, b) => Cause.parallel(a, b)) as Cause.Cause<E | NurseryError<TaskError>>)
  }))
